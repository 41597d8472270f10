from __future__ import annotations

import importlib.util

import pytest

from streams.cli import extras, main


def test_a_command_whose_extra_is_missing_names_it_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name))
    assert main(["tune"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "helpstream: `helpstream tune` needs the [tune] extra (torch is not installed): pip install 'helpstream[tune]'"
    ]
    assert extras.missing_extra("bench") is not None and extras.missing_extra("search") is None


def test_with_every_extra_installed_nothing_is_missing() -> None:
    assert all(extras.missing_extra(command) is None for command in extras.NEEDS)

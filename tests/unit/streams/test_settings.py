from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings, child_env


def test_settings_come_from_helpstream_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_BROKER", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("HELPSTREAM_TOP_K", "5")
    monkeypatch.setenv("HELPSTREAM_REQUIRE_SERVICES", "1")
    monkeypatch.setenv("HELPSTREAM_DATA_DIR", "/var/lib/helpstream")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.broker == "kafka-1:9092,kafka-2:9092"
    assert settings.top_k == 5
    assert settings.require_services is True
    assert settings.data_dir == Path("/var/lib/helpstream")


def test_a_bad_value_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPSTREAM_TOP_K", "lots")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()  # type: ignore[call-arg]


def test_a_child_worker_gets_the_settings_back_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(broker="b:1", web_port=7000, require_services=True, batch_wait_ms=2.5)  # type: ignore[call-arg]
    env = child_env(settings)
    for name, value in env.items():
        if name.startswith("HELPSTREAM_"):
            monkeypatch.setenv(name, value)
    assert Settings() == settings  # type: ignore[call-arg]


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`HELPSTREAM_{name.upper()}`" not in readme]
    assert missing == []

"""`helpstream model export` and `keygen`: what the workers would refuse is not exported; a key is never replaced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.settings import Settings, child_env


def helpstream(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env(Settings(data_dir=tmp_path / "data"))  # type: ignore[call-arg]
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_model_directory_outside_the_allowed_roots_is_not_exported(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    done = helpstream(tmp_path, "model", "export", str(outside), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "outside the allowed model roots" in done.stderr and "HELPSTREAM_MODEL_ROOTS" in done.stderr
    assert not (tmp_path / "out").exists()


def test_keygen_writes_an_owner_only_private_key_and_never_replaces_one(tmp_path: Path) -> None:
    first = helpstream(tmp_path, "model", "keygen", "--out", str(tmp_path / "keys"))
    assert first.returncode == 0, first.stderr
    private = tmp_path / "keys" / "registry-signing.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    before = private.read_bytes()
    again = helpstream(tmp_path, "model", "keygen", "--out", str(tmp_path / "keys"))
    assert again.returncode == 1 and "exists" in again.stderr
    assert private.read_bytes() == before

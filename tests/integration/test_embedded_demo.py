"""Smoke test of the zero-install default: `helpstream demo --once` on the embedded Tansu broker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.local.ports import listener_ports
from streams.settings import Settings, child_env

CHATS = 60


@pytest.mark.tansu
def test_demo_runs_the_pipeline_on_the_embedded_broker(
    redis_url: str, data_dir: Path, figures: list[tuple[str, str]]
) -> None:
    settings = Settings(broker="", redis_url=redis_url, **listener_ports(), data_dir=data_dir, app_id="helpstream")
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--once", "--chats", str(CHATS), "--rate", "30"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:] + (data_dir / "demo-worker.log").read_text()[-4000:]
    assert "embedded Tansu broker" in output
    assert re.search(rf"recommendations received\s+{CHATS}\b", output)
    ready_s = float(re.search(r"ready in ([\d.]+) s", output).group(1))  # type: ignore[union-attr]
    top1 = re.search(r"top-1 matches the chat's intent\s+([\d.]+%)", output).group(1)  # type: ignore[union-attr]
    figures.append(("worker ready on the embedded Tansu broker", f"{ready_s:.1f} s"))
    figures.append((f"demo on Tansu: top-1 on {CHATS} held-out chats", top1))
    assert ready_s < 30

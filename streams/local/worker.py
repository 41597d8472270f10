"""Starts and stops a `helpstream worker` child process, and waits for its `/healthz`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.clients.http import get_json, metric
from streams.local.processes import stop
from streams.settings import Settings, child_env


@dataclass
class WorkerProcess:
    """`helpstream` is the command of another install to run instead of this interpreter's (its own venv);
    `bearer` gives a token for the internal listener's health and metrics where sign-in is on."""

    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    helpstream: Path | None = None
    bearer: Callable[[], str] | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer()}"} if self.bearer is not None else {}

    @property
    def url(self) -> str:
        """The internal listener: console, feedback, recommendations, models, health, metrics."""
        return f"http://{self.settings.web_host}:{self.settings.web_port}"

    @property
    def public_url(self) -> str:
        """The public listener: the help screen and its search."""
        return self.settings.public_url

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [str(self.helpstream)] if self.helpstream else [sys.executable, "-m", "streams.cli"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "worker"],
                env=child_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def health(self) -> tuple[int, Any]:
        try:
            return get_json(f"{self.url}/healthz", timeout_s=2, headers=self.headers())
        except OSError:
            return 0, None

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds until `/healthz` answers 200; raises if the worker dies or the timeout passes."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}; see {self.log_path}")
            if self.health()[0] == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout_s:.0f} s; see {self.log_path}")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` (with these labels) in the worker's `/metrics`."""
        return metric(self.url, name, self.headers(), **labels)

    def wait_for_items(self, items: int, timeout_s: float) -> dict[str, Any]:
        """The `/healthz` body once the index holds at least `items` content items."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, body = self.health()
            if status == 200 and body["index"]["items"] >= items:
                return dict(body)
            time.sleep(0.5)
        raise TimeoutError(f"the worker indexed fewer than {items} items in {timeout_s:.0f} s; see {self.log_path}")

    def kill(self) -> None:
        """kill -9: no shutdown, no commit, no LeaveGroup."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout_s: float = 20) -> None:
        stop(self.process, timeout_s)

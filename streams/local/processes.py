"""Stopping a child process by pid: SIGTERM, then SIGKILL if it has not exited in time."""

from __future__ import annotations

import subprocess


class ServiceMissing(RuntimeError):
    """A tool a local service needs is not installed; the message says which."""


def stop(process: subprocess.Popen[bytes] | None, timeout_s: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

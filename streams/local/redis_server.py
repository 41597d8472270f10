"""A throwaway Debian `redis-server` on a free port with its own directory, stopped by pid."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.local.ports import free_port, wait_for_port
from streams.local.processes import ServiceMissing, stop


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Yields the server's URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceMissing("`redis-server` is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 20, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)

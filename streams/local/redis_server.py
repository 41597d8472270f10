"""A throwaway Debian `redis-server` on a free port with its own directory, stopped by pid."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streams.local.ports import free_port, wait_for_port
from streams.local.processes import ServiceMissing, stop


@dataclass(frozen=True)
class RedisTls:
    """PEM files of the server's certificate and key, and of the CA clients verify it with."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    host: str = "localhost"  # the name in the server certificate


@dataclass(frozen=True)
class RunningRedis:
    pid: int
    url: str  # `redis://` or, with TLS, `rediss://` (TLS only), with the password if any


@contextmanager
def redis_server(workdir: Path, *, password: str | None = None, tls: RedisTls | None = None) -> Iterator[RunningRedis]:
    """A redis-server on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceMissing("`redis-server` is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "", "--appendonly", "no"]
    if password is not None:
        args += ["--requirepass", password]
    if tls is None:
        args += ["--port", str(port)]
    else:
        args += ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
        args += ["--tls-cert-file", str(tls.cert_file), "--tls-key-file", str(tls.key_file)]
        args += ["--tls-ca-cert-file", str(tls.ca_file)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = f":{password}@" if password is not None else ""
    try:
        wait_for_port(port, 20, process)
        if tls is None:
            yield RunningRedis(process.pid, f"redis://{auth}127.0.0.1:{port}/0")
        else:
            yield RunningRedis(process.pid, f"rediss://{auth}{tls.host}:{port}/0")
    finally:
        stop(process)

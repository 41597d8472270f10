"""Free loopback ports and waiting for a process to listen on one."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: each stays bound until all are chosen (a port closed at once can be handed out
    again by the next bind)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def wait_for_port(port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


def listener_ports() -> dict[str, int]:
    """Free ports for a worker's two listeners (settings overrides: `web_port`, `public_port`)."""
    web, public = free_ports(2)
    return {"web_port": web, "public_port": public}

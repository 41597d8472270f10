"""A three-node Apache Kafka cluster on loopback (KRaft, each JVM a broker and a voter of the controller quorum)
whose nodes can be stopped, killed, paused and started again: the topology a bank runs, for the fault tests
and the soak.

Every node keeps its log directory across restarts, as a patched broker does. Topics default to replication
factor 3 and `min.insync.replicas=2` (Kafka's internal topics too); everything else is Kafka's default, so a
broker lost is noticed when Kafka's own timeouts say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.local.ports import free_ports, wait_for_port
from streams.local.processes import stop

NODES = 3
# Three JVMs share two cores with the workers: a small heap and one GC thread each.
JVM = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC"]


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"node {self.node_id} is not running"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class KafkaCluster:
    """The nodes of a running cluster, by id (1..3); `bootstrap` lists all of them."""

    def __init__(self, jars: Path, workdir: Path, nodes: int = NODES) -> None:
        self._java = ["java", *JVM, "-cp", f"{jars}/*"]
        ports = free_ports(2 * nodes)
        self.nodes = {
            n: Node(n, ports[2 * n - 2], ports[2 * n - 1], workdir / f"node-{n}") for n in range(1, nodes + 1)
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes.values())

    def _config(self, node: Node) -> Path:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes.values())
        config = node.workdir / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={node.node_id}",
                    f"controller.quorum.voters={voters}",
                    f"listeners=PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={node.workdir / 'data'}",
                    f"default.replication.factor={len(self.nodes)}",
                    "min.insync.replicas=2",
                    f"offsets.topic.replication.factor={len(self.nodes)}",
                    "offsets.topic.num.partitions=4",
                    f"transaction.state.log.replication.factor={len(self.nodes)}",
                    "transaction.state.log.min.isr=2",
                    "group.initial.rebalance.delay.ms=0",
                    "num.partitions=1",
                    "log.cleaner.backoff.ms=1000",
                ]
            )
            + "\n"
        )
        return config

    def format(self) -> None:
        cluster_id = uuid.uuid4().hex[:22]
        for node in self.nodes.values():
            node.workdir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [*self._java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self._config(node))],
                check=True,
                capture_output=True,
                timeout=120,
            )

    def launch(self, node_id: int) -> None:
        node = self.nodes[node_id]
        assert not node.running(), f"node {node_id} is already running"
        with (node.workdir / "kafka.log").open("ab") as log:
            node.process = subprocess.Popen(
                [*self._java, "kafka.Kafka", str(node.workdir / "server.properties")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self, node_id: int, timeout_s: float = 120) -> None:
        """Starts a node (again) on its ports and log directory; returns once it listens."""
        self.launch(node_id)
        wait_for_port(self.nodes[node_id].port, timeout_s, self.nodes[node_id].process)

    def stop(self, node_id: int, timeout_s: float = 60) -> None:
        """A clean stop (SIGTERM: a controlled shutdown that moves its leaderships first), as for patching."""
        stop(self.nodes[node_id].process, timeout_s)

    def kill(self, node_id: int) -> None:
        """kill -9: the node is gone at once, its leaderships with it."""
        node = self.nodes[node_id]
        os.kill(node.pid, signal.SIGKILL)
        assert node.process is not None
        node.process.wait(30)

    def pause(self, node_id: int) -> None:
        os.kill(self.nodes[node_id].pid, signal.SIGSTOP)

    def resume(self, node_id: int) -> None:
        os.kill(self.nodes[node_id].pid, signal.SIGCONT)

    def controller(self) -> int:
        """The running node leading the controller quorum now: the newest leader epoch any running node has
        written (a node killed a moment ago may still be named: then there is no running leader yet)."""
        newest: tuple[int, int] = (-1, -1)
        for node in self.nodes.values():
            state = node.workdir / "data" / "__cluster_metadata-0" / "quorum-state"
            if not node.running() or not state.exists():
                continue
            try:
                data = json.loads(state.read_text())
            except ValueError:  # being rewritten
                continue
            if data.get("leaderId", -1) >= 0:
                newest = max(newest, (int(data["leaderEpoch"]), int(data["leaderId"])))
        if newest[1] < 0 or not self.nodes[newest[1]].running():
            raise RuntimeError("the controller quorum has no running leader")
        return newest[1]

    def wait_controller(self, timeout_s: float = 60) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.controller()
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def partitions(self, topics: list[str] | None = None) -> list[PartitionState]:
        """Every partition of `topics` (all, with Kafka's own) as the cluster describes it now."""
        return asyncio.run(_describe(self.bootstrap, topics))

    def wait_in_sync(self, timeout_s: float = 180) -> float:
        """Seconds until every partition has a leader and all its replicas in sync (a restarted node caught up)."""
        started = time.monotonic()
        while True:
            try:
                if all(p.leader >= 0 and set(p.isr) == set(p.replicas) for p in self.partitions()):
                    return time.monotonic() - started
            except (KafkaError, OSError):  # a node that is starting answers nothing useful yet
                pass
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"partitions not back in sync within {timeout_s} s")
            time.sleep(0.5)

    def stop_all(self) -> None:
        for node in self.nodes.values():
            if node.running():
                self.resume(node.node_id)  # a paused JVM cannot handle SIGTERM
            stop(node.process)


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


async def _describe(bootstrap: str, topics: list[str] | None) -> list[PartitionState]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        PartitionState(t["topic"], p["partition"], p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
        for t in described
        if not t["error_code"]
        for p in t["partitions"]
    ]


@contextmanager
def kafka_cluster(jars: Path, workdir: Path, nodes: int = NODES) -> Iterator[KafkaCluster]:
    """A running cluster of `nodes` combined broker-controllers, stopped by pid on exit."""
    cluster = KafkaCluster(jars, workdir, nodes)
    cluster.format()
    try:
        for node_id in cluster.nodes:
            cluster.launch(node_id)  # side by side: a voter waits for a quorum before it listens
        for node in cluster.nodes.values():
            wait_for_port(node.port, 180, node.process)
        cluster.wait_controller()
        yield cluster
    finally:
        cluster.stop_all()

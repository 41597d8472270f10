"""Real services on this machine for tests and the bench: Apache Kafka (KRaft) and redis-server.

Apache Kafka's jars come from Maven Central (`streams/apache-kafka.pom.xml`) and run on the machine's Java 17;
each service runs on free ports with its own directory and is stopped by pid.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.embedded_broker import free_port, wait_for_port

KAFKA_POM = Path(__file__).resolve().parent / "apache-kafka.pom.xml"


class ServiceMissing(RuntimeError):
    """A tool a service needs is not installed; the message says which."""


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kafka_jars(cache: Path) -> Path:
    """The broker's jars, resolved once into `cache` (again when the pom changes)."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise ServiceMissing(f"`{tool}` is not installed: Apache Kafka needs Java 17 and Maven")
    cache = cache.resolve()  # Maven reads a relative output directory against the pom's folder
    stamp = cache / ".resolved"
    if stamp.exists() and stamp.stat().st_mtime >= KAFKA_POM.stat().st_mtime:
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    done = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies", f"-DoutputDirectory={cache}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise ServiceMissing(
            f"Maven could not resolve Apache Kafka's jars:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    stamp.touch()
    return cache


def kafka_version(jars: Path) -> str:
    jar = next(jars.glob("kafka-clients-*.jar"), None)
    return jar.stem.removeprefix("kafka-clients-") if jar else "?"


@contextmanager
def apache_kafka(jars: Path, workdir: Path) -> Iterator[str]:
    """A single-node KRaft Apache Kafka; yields its bootstrap address."""
    port, controller = free_port(), free_port()
    config = workdir / "server.properties"
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={workdir / 'data'}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "num.partitions=1",
                "log.cleaner.backoff.ms=1000",
            ]
        )
        + "\n"
    )
    java = ["java", "-Xms256m", "-Xmx1g", "-cp", f"{jars}/*"]
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", uuid.uuid4().hex[:22], "-c", str(config)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (workdir / "kafka.log").open("wb") as log:
        process = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 90, process)
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server; yields its URL."""
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

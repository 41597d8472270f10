"""Apache Kafka (KRaft, single node) on free ports: jars from Maven Central, run on the machine's Java 17.

The jars are resolved once by the packaged `apache-kafka.pom.xml` into a cache directory; each broker gets its
own log directory and is stopped by pid.
"""

from __future__ import annotations

import importlib.resources
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.local.ports import free_port, wait_for_port
from streams.local.processes import ServiceMissing, stop

_POM = "apache-kafka.pom.xml"


def kafka_jars(cache: Path) -> Path:
    """The broker's jars, resolved once into `cache` (again when the pom changes)."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise ServiceMissing(f"`{tool}` is not installed: Apache Kafka needs Java 17 and Maven")
    cache = cache.resolve()  # Maven reads a relative output directory against the pom's folder
    pom = importlib.resources.files("streams.local") / _POM
    # The stamp holds the pom it was resolved from: a changed pom resolves again.
    stamp = cache / ".resolved"
    if stamp.exists() and stamp.read_text() == pom.read_text():
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    with importlib.resources.as_file(pom) as pom_path:
        done = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies", f"-DoutputDirectory={cache}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    if done.returncode != 0:
        raise ServiceMissing(
            f"Maven could not resolve Apache Kafka's jars:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    stamp.write_text(pom.read_text())
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

"""Apache Kafka (KRaft, single node) on free ports: jars from Maven Central, run on the machine's Java 17.

The jars are resolved once by the packaged `apache-kafka.pom.xml` into a cache directory; each broker gets its
own log directory and is stopped by pid.
"""

from __future__ import annotations

import importlib.resources
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streams.local.ports import free_ports, wait_for_port
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


@dataclass(frozen=True)
class SaslSslListener:
    """A second, secured listener: TLS with `keystore_pem` (the server's unencrypted PKCS#8 key followed by its
    certificate chain) and SCRAM users added when the storage is formatted."""

    keystore_pem: Path
    users: Mapping[str, str]
    mechanism: str = "SCRAM-SHA-512"
    host: str = "localhost"  # the name in the server certificate that clients verify


@dataclass(frozen=True)
class RunningKafka:
    pid: int
    bootstrap: str  # PLAINTEXT
    sasl_ssl_bootstrap: str | None = None


@contextmanager
def apache_kafka(jars: Path, workdir: Path, *, sasl_ssl: SaslSslListener | None = None) -> Iterator[RunningKafka]:
    """A single-node KRaft Apache Kafka with a PLAINTEXT listener and, optionally, a SASL_SSL one."""
    port, controller, *secure_free = free_ports(3 if sasl_ssl is not None else 2)
    listeners = [f"PLAINTEXT://127.0.0.1:{port}", f"CONTROLLER://127.0.0.1:{controller}"]
    advertised = [f"PLAINTEXT://127.0.0.1:{port}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    secure: list[str] = []
    format_options: list[str] = []
    secure_port = secure_free[0] if secure_free else None
    if sasl_ssl is not None:
        listeners.append(f"SASL_SSL://127.0.0.1:{secure_port}")
        advertised.append(f"SASL_SSL://{sasl_ssl.host}:{secure_port}")
        protocols.append("SASL_SSL:SASL_SSL")
        mechanism = sasl_ssl.mechanism.lower()
        secure = [
            "inter.broker.listener.name=PLAINTEXT",
            f"sasl.enabled.mechanisms={sasl_ssl.mechanism}",
            f"listener.name.sasl_ssl.{mechanism}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={sasl_ssl.keystore_pem}",
            "ssl.client.auth=none",
        ]
        for name, password in sasl_ssl.users.items():
            format_options += ["--add-scram", f"{sasl_ssl.mechanism}=[name={name},password={password}]"]
    config = workdir / "server.properties"
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners={','.join(listeners)}",
                f"advertised.listeners={','.join(advertised)}",
                "controller.listener.names=CONTROLLER",
                f"listener.security.protocol.map={','.join(protocols)}",
                f"log.dirs={workdir / 'data'}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "num.partitions=1",
                "log.cleaner.backoff.ms=1000",
                *secure,
            ]
        )
        + "\n"
    )
    java = ["java", "-Xms256m", "-Xmx1g", "-cp", f"{jars}/*"]
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", uuid.uuid4().hex[:22], "-c", str(config), *format_options],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (workdir / "kafka.log").open("wb") as log:
        process = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 90, process)
        if secure_port is not None:
            wait_for_port(secure_port, 30, process)
        yield RunningKafka(
            process.pid, f"127.0.0.1:{port}", f"{sasl_ssl.host}:{secure_port}" if sasl_ssl is not None else None
        )
    finally:
        stop(process)

"""Real services for the integration tests: Apache Kafka (KRaft, jars from Maven Central) and redis-server.

Each runs on free ports with its own temporary directory and is stopped by pid. When Java, Maven or
redis-server is missing the tests skip with the reason, unless HELPSTREAM_REQUIRE_SERVICES=1 (CI): then
they fail.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streams.embedded_broker import free_port, wait_for_port
from streams.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = ROOT / "tests" / "kafka" / "pom.xml"
KAFKA_JARS = ROOT / ".helpstream" / "kafka-jars"


def unavailable(reason: str) -> None:
    if get_settings().require_services:
        pytest.fail(f"HELPSTREAM_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _kafka_jars() -> Path:
    stamp = KAFKA_JARS / ".resolved"
    if stamp.exists() and stamp.stat().st_mtime >= KAFKA_POM.stat().st_mtime:
        return KAFKA_JARS
    shutil.rmtree(KAFKA_JARS, ignore_errors=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies", f"-DoutputDirectory={KAFKA_JARS}"],
        check=True,
        timeout=600,
    )
    stamp.touch()
    return KAFKA_JARS


def kafka_version() -> str:
    jar = next(KAFKA_JARS.glob("kafka-clients-*.jar"), None)
    return jar.stem.removeprefix("kafka-clients-") if jar else "?"


@contextmanager
def apache_kafka(tmp: Path) -> Iterator[str]:
    """A single-node KRaft Apache Kafka; yields its bootstrap address."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            unavailable(f"`{tool}` is not installed: Apache Kafka for the integration tests needs Java 17 and Maven")
    classpath = f"{_kafka_jars()}/*"
    port, controller = free_port(), free_port()
    config = tmp / "server.properties"
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
                f"log.dirs={tmp / 'data'}",
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
    java = ["java", "-Xms256m", "-Xmx768m", "-cp", classpath]
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", uuid.uuid4().hex[:22], "-c", str(config)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (tmp / "kafka.log").open("wb") as log:
        process = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 90, process)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A throwaway redis-server; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("`redis-server` is not installed (Debian: apt-get install redis-server)")
        raise AssertionError("unreachable")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 20, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.05) -> float:
    """Seconds until `predicate()` is truthy; raises AssertionError after `timeout_s`."""
    assert callable(predicate)
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")

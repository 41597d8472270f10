"""Real services for the integration tests, from `streams.local`.

When Java, Maven or redis-server is missing the tests skip with the reason, unless
HELPSTREAM_REQUIRE_SERVICES=1 (CI): then they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from streams.local import apache_kafka as kafka
from streams.local import kafka_cluster as cluster
from streams.local import redis_server as redis
from streams.local.ports import free_ports, wait_for_port
from streams.local.processes import ServiceMissing, stop
from streams.settings import load_settings

KAFKA_JARS = Path(__file__).resolve().parent.parent / ".helpstream" / "kafka-jars"
KAFKA_START = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "start.sh"


@contextmanager
def required(kind: str) -> Iterator[None]:
    try:
        yield
    except ServiceMissing as exc:
        if load_settings().require_services:
            pytest.fail(f"HELPSTREAM_REQUIRE_SERVICES=1 but {exc}", pytrace=False)
        pytest.skip(f"{kind}: {exc}")


@contextmanager
def apache_kafka(
    workdir: Path, sasl_ssl: kafka.SaslSslListener | None = None
) -> Iterator[tuple[kafka.RunningKafka, str]]:
    """Yields (the running broker, its version)."""
    with required("Apache Kafka"):
        jars = kafka.kafka_jars(KAFKA_JARS)
    with kafka.apache_kafka(jars, workdir, sasl_ssl=sasl_ssl) as running:
        yield running, kafka.kafka_version(jars)


@contextmanager
def kafka_cluster(workdir: Path) -> Iterator[tuple[cluster.KafkaCluster, str]]:
    """Yields (the running three-node cluster, Kafka's version)."""
    with required("Apache Kafka"):
        jars = kafka.kafka_jars(KAFKA_JARS)
    with cluster.kafka_cluster(jars, workdir) as running:
        yield running, kafka.kafka_version(jars)


@contextmanager
def compose_kafka(workdir: Path, passwords: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """The compose file's broker (`deploy/kafka/start.sh`: SASL/SCRAM users, ACLs enforced) on free ports, run with
    the session's jars in place of the image's `/opt/kafka`. `passwords`: KAFKA_<ROLE>_PASSWORD values. Yields
    (the bootstrap address, Kafka's version)."""
    with required("Apache Kafka"):
        jars = kafka.kafka_jars(KAFKA_JARS)
    bin_dir = workdir / "kafka-home" / "bin"
    bin_dir.mkdir(parents=True)
    java = f'exec java -Xms256m -Xmx1g -cp "{jars}/*"'
    for script, main in (("kafka-storage.sh", "kafka.tools.StorageTool"), ("kafka-server-start.sh", "kafka.Kafka")):
        (bin_dir / script).write_text(f'#!/bin/sh\n{java} {main} "$@"\n')
        (bin_dir / script).chmod(0o755)
    client, host, controller = free_ports(3)
    env = {
        **os.environ,
        "KAFKA_HOME": str(bin_dir.parent),
        "KAFKA_DATA_DIR": str(workdir / "data"),
        "KAFKA_CONFIG_DIR": str(workdir / "config"),
        "KAFKA_CLIENT_PORT": str(client),
        "KAFKA_HOST_PORT": str(host),
        "KAFKA_CONTROLLER_PORT": str(controller),
        "KAFKA_ADVERTISED_HOST": "127.0.0.1",
        "KAFKA_HOST_ADVERTISED_HOST": "127.0.0.1",
        **passwords,
    }
    with (workdir / "kafka.log").open("wb") as log:
        process = subprocess.Popen(["bash", str(KAFKA_START)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(client, 120, process)
        yield f"127.0.0.1:{client}", kafka.kafka_version(jars)
    finally:
        stop(process)


@contextmanager
def redis_server(
    workdir: Path, *, password: str | None = None, tls: redis.RedisTls | None = None
) -> Iterator[redis.RunningRedis]:
    with ExitStack() as stack:
        with required("Redis"):
            running = stack.enter_context(redis.redis_server(workdir, password=password, tls=tls))
        yield running


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.05) -> float:
    """Seconds until `predicate()` is truthy; raises AssertionError after `timeout_s`."""
    assert callable(predicate)
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: without these, Chromium tries Google's services again and again.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download); yields a Playwright `Browser`."""
    from playwright.sync_api import sync_playwright

    with required("Chromium"):
        executable = shutil.which("chromium")
        if executable is None:
            raise ServiceMissing("`chromium` is not installed (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()

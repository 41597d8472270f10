"""Encrypted, authenticated connections: Apache Kafka with a SASL_SSL listener (SCRAM-SHA-512, a CA and server
certificate made by the session) and redis-server with a password and TLS only.

A worker connects with the security settings and serves recommendations; a wrong password or an untrusted
certificate stops it at once with one line and a non-zero exit; secrets never show in its log or endpoints.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.clients.kafka import KafkaConnection
from streams.local.apache_kafka import SaslSslListener
from streams.local.ports import listener_ports
from streams.local.redis_server import RedisTls
from streams.settings import Settings, child_env, isolated
from tests.fixtures import Workers
from tests.integration.clients import chat, consume_keys, demo_items, index_holds, produce_json
from tests.services import apache_kafka, redis_server, wait_until
from tests.tls import Certificates, make_certificates

KAFKA_PASSWORD = f"kafka-{uuid.uuid4().hex}"
REDIS_PASSWORD = f"redis-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def secure_kafka(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates, figures: list[tuple[str, str]]
) -> Iterator[str]:
    listener = SaslSslListener(certificates.keystore_pem, {"helpstream": KAFKA_PASSWORD})
    with apache_kafka(tmp_path_factory.mktemp("secure-kafka"), sasl_ssl=listener) as (running, version):
        assert running.sasl_ssl_bootstrap is not None
        figures.append(
            ("secured broker", f"Apache Kafka {version}, SASL_SSL SCRAM-SHA-512 at {running.sasl_ssl_bootstrap}")
        )
        yield running.sasl_ssl_bootstrap


@pytest.fixture(scope="module")
def secure_redis(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[str]:
    tls = RedisTls(certificates.cert_file, certificates.key_file, certificates.ca_file)
    with redis_server(tmp_path_factory.mktemp("secure-redis"), password=REDIS_PASSWORD, tls=tls) as running:
        yield running.url


@pytest.fixture(scope="module")
def secure_settings(secure_kafka: str, secure_redis: str, certificates: Certificates, data_dir: Path) -> Settings:
    base = Settings(
        broker=secure_kafka,
        broker_security_protocol="SASL_SSL",
        broker_sasl_mechanism="SCRAM-SHA-512",
        broker_username="helpstream",
        broker_password=KAFKA_PASSWORD,
        broker_ca_file=certificates.ca_file,
        redis_url=secure_redis,
        redis_ca_file=certificates.ca_file,
        require_services=True,
        data_dir=data_dir,
        **listener_ports(),
    )  # type: ignore[call-arg]
    return isolated(base, f"s{uuid.uuid4().hex[:8]}")


def run_worker_expecting_failure(
    settings: Settings, **overrides: Any
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=child_env(settings, **overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def test_a_worker_on_sasl_ssl_kafka_and_tls_redis_serves_recommendations_and_never_shows_a_secret(
    secure_settings: Settings, workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings = secure_settings
    kafka = KafkaConnection.of(settings)
    worker = workers.start(settings, "secure")
    ready_s = worker.wait_ready(120)

    published = subprocess.run(
        [sys.executable, "-m", "streams.cli", "publish", "content", "--demo"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert published.returncode == 0, published.stderr[-3000:]
    wait_until(lambda: index_holds(worker, demo_items()), 240, 0.5)
    chats = [chat(f"sec-{i}", "my card still has not arrived") for i in range(20)]
    produce_json(kafka, settings.topic_chat, chats)
    recs = consume_keys(kafka, settings.topic_recommendations, {f"sec-{i}".encode() for i in range(20)}, 120)
    assert len(recs) == 20
    assert all(orjson.loads(m.value)["items"][0]["content_id"] == "card_arrival" for m in recs.values())

    health = worker.health()[1]
    assert health["redis"]["url"].startswith("rediss://:***@")
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    everything = orjson.dumps(health).decode() + metrics + worker.log_path.read_text()
    assert KAFKA_PASSWORD not in everything
    assert REDIS_PASSWORD not in everything
    figures.append(("worker ready on SASL_SSL Kafka + TLS Redis", f"{ready_s:.1f} s"))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"broker_password": "not-the-password"}, "SaslAuthenticationFailed"),
        ({"broker_ca_file": "untrusted"}, "CERTIFICATE_VERIFY_FAILED"),
        ({"redis_url": "wrong-redis-password"}, "Redis at rediss://:***@"),
    ],
)
def test_a_wrong_secret_or_an_untrusted_certificate_stops_the_worker_at_once_with_one_line(
    secure_settings: Settings,
    tmp_path: Path,
    overrides: dict[str, Any],
    reason: str,
    figures: list[tuple[str, str]],
) -> None:
    if overrides.get("broker_ca_file") == "untrusted":
        overrides = {"broker_ca_file": make_certificates(tmp_path, ca_name="someone else").ca_file}
    if overrides.get("redis_url") == "wrong-redis-password":
        overrides = {"redis_url": secure_settings.redis_url.replace(REDIS_PASSWORD, "not-the-password")}
    done, seconds = run_worker_expecting_failure(secure_settings, **overrides)

    assert done.returncode == 1
    # The log goes to stderr too; the reason is the last line, whole.
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("helpstream: "), done.stderr[-3000:]
    assert reason in last
    assert KAFKA_PASSWORD not in done.stderr + done.stdout
    assert REDIS_PASSWORD not in done.stderr + done.stdout
    assert "not-the-password" not in done.stderr + done.stdout
    assert seconds < 30
    figures.append((f"worker refused ({reason})", f"exit 1 in {seconds:.1f} s"))

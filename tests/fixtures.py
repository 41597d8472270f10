"""Fixtures of the integration and reliability tests: session services (Apache Kafka, redis-server) and
helpstream worker processes, all stopped by pid. Loaded by `tests/conftest.py`; unit tests never request them."""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from schemas import encode
from streams.clients.publish import read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.local.apache_kafka import RunningKafka
from streams.local.kafka_cluster import KafkaCluster
from streams.local.ports import listener_ports
from streams.local.redis_server import RunningRedis
from streams.local.worker import WorkerProcess
from streams.settings import Settings, child_env, isolated
from tests.integration.clients import demo_items, index_holds, publish_demo_content
from tests.oidc import Oidc, keycloak
from tests.services import apache_kafka, kafka_cluster, redis_server, wait_until

# Ceilings, not expectations: a busy 2-core machine may be slow; the tests report the real times as figures.
READY_S = 120
INDEXED_S = 240


@pytest.fixture(scope="session")
def running_kafka(tmp_path_factory: pytest.TempPathFactory, figures: list[tuple[str, str]]) -> Iterator[RunningKafka]:
    with apache_kafka(tmp_path_factory.mktemp("kafka")) as (running, version):
        figures.append(("integration broker", f"Apache Kafka {version} (KRaft) at {running.bootstrap}"))
        yield running


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, figures: list[tuple[str, str]]) -> Iterator[KafkaCluster]:
    """Three Apache Kafka nodes (KRaft, replication factor 3, min.insync.replicas 2) for one test module: its
    faults leave the cluster as a module found it, or stop it."""
    with kafka_cluster(tmp_path_factory.mktemp("cluster")) as (running, version):
        nodes = f"{len(running.nodes)} nodes (KRaft) at {running.bootstrap}"
        figures.append(("cluster", f"Apache Kafka {version}, {nodes}"))
        yield running


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RunningRedis]:
    """A redis-server of one test's own: to hang and to kill, or to count its keys."""
    with redis_server(tmp_path) as running:
        yield running


@pytest.fixture(scope="session")
def oidc(tmp_path_factory: pytest.TempPathFactory, figures: list[tuple[str, str]]) -> Iterator[Oidc]:
    """Keycloak with helpstream's realm, for every test that signs in."""
    with keycloak(tmp_path_factory.mktemp("keycloak")) as (provider, version):
        figures.append(("OIDC provider", f"Keycloak {version} at {provider.issuer}"))
        yield provider


@pytest.fixture(scope="session")
def kafka(running_kafka: RunningKafka) -> str:
    return running_kafka.bootstrap


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory, figures: list[tuple[str, str]]) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        url = running.url
        figures.append(
            ("integration Redis", f"redis-server {redis.Redis.from_url(url).info()['redis_version']} at {url}")
        )
        yield url


def isolated_settings(bootstrap: str, redis_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings with topics and consumer group of their own, so tests never see each other's events."""
    base = Settings(
        broker=bootstrap,
        redis_url=redis_url,
        require_services=True,
        data_dir=data_dir,
        **listener_ports(),
        log_level="info",
    )  # type: ignore[call-arg]
    # The tests' model directories (tuned, exported, refused) are all under the temp dir.
    overrides.setdefault("model_roots", tempfile.gettempdir())
    return isolated(base, f"t{uuid.uuid4().hex[:8]}", **overrides)


class Workers:
    """Starts `helpstream worker` processes and stops every one of them at teardown."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._started: list[WorkerProcess] = []

    def start(self, settings: Settings, name: str = "worker", bearer: Callable[[], str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(settings, self._data_dir / f"{name}.log", bearer=bearer).start()
        self._started.append(worker)
        return worker

    def start_with_demo_content(
        self, settings: Settings, name: str, bearer: Callable[[], str] | None = None
    ) -> WorkerProcess:
        """A ready worker whose index holds the demo content (the CMS export published once)."""
        worker = self.start(settings, name, bearer)
        worker.wait_ready(READY_S)
        publish_demo_content(settings)
        wait_until(lambda: index_holds(worker, demo_items()), INDEXED_S, 0.5)
        return worker

    def stop_all(self) -> None:
        for worker in self._started:
            worker.stop()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    started = Workers(tmp_path_factory.mktemp("workers"))
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every worker of the session, so the ONNX export is built once (workers keep apart by port)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def make_settings(kafka: str, redis_url: str, data_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return isolated_settings(
            kafka, overrides.pop("redis_url", redis_url), overrides.pop("data_dir", data_dir), **overrides
        )

    return make


ITEMS = 6  # saved responses of the small CMS a model is tuned on


@dataclass(frozen=True)
class TunedModel:
    """A model directory `helpstream tune` wrote, from a small CMS export of its own and its held-out chats."""

    directory: Path
    stdout: str
    content: Path
    chats: list[tuple[str, str]]  # (text, the content id of its intent)


@pytest.fixture(scope="session")
def tuned_model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> TunedModel:
    """Tuned once per session (one epoch on six saved responses of the demo): shared by the tests that serve it."""
    tmp = tmp_path_factory.mktemp("tune")
    content = [c for c in read_content(demo_content()) if c.kind == "saved_response"][:ITEMS]
    ids = {c.content_id for c in content}
    chats = [(c.text, c.intent) for c in read_chats(demo_chats()) if c.intent in ids]
    content_path, chats_path, out = tmp / "content.jsonl", tmp / "chats.csv", tmp / "tuned-banking"
    content_path.write_bytes(b"".join(encode(c) + b"\n" for c in content))
    with chats_path.open("w", newline="") as f:
        csv.writer(f).writerows([("text", "category"), *chats])
    command = ["tune", "--content", str(content_path), "--chats", str(chats_path), "--out", str(out), "--epochs", "1"]
    stdout = helpstream(data_dir, *command, "--seed", "3")
    return TunedModel(out, stdout, content_path, chats)


@dataclass(frozen=True)
class ExportedModel:
    directory: Path
    stdout: str


@pytest.fixture(scope="session")
def exported_tuned_model(
    tuned_model: TunedModel, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> ExportedModel:
    """`helpstream model export` of the tuned model, once per session: what an operator adds to a running
    deployment (each worker would otherwise export it itself, with torch, while it serves chats)."""
    out = tmp_path_factory.mktemp("tuned-export") / "tuned-banking"
    return ExportedModel(out, helpstream(data_dir, "model", "export", str(tuned_model.directory), "--out", str(out)))


def helpstream(data_dir: Path, *args: str) -> str:
    """A `helpstream` command of this install with `HELPSTREAM_DATA_DIR=data_dir`; its stdout, once it exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=child_env(Settings(data_dir=data_dir, model_roots=tempfile.gettempdir())),  # type: ignore[call-arg]
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def exported_minilm(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """`helpstream model export minilm-l6` once per session, with the full install (torch)."""
    out = tmp_path_factory.mktemp("export") / "minilm-l6"
    assert f"HELPSTREAM_MODEL={out}" in helpstream(data_dir, "model", "export", "minilm-l6", "--out", str(out))
    return out

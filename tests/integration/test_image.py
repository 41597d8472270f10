"""The worker image as a platform team builds and runs it, with Debian's podman: no registry is reachable here, so a
Debian base is built locally (`deploy/image/debian-base.sh`) and passed as the Dockerfile's BASE.

The runtime target (the base wheel alone) is built and started as its non-root user against the test session's
Apache Kafka and Redis, and serves chats; the image's size and the worker's RSS are printed. The export stage
(torch, several GB) runs only with `--export-image` (`make image-export`).

podman runs containers with runc and open-file limits within the host's: this sandbox lacks CAP_SYS_RESOURCE, and
crun's default asks for more.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from index.backends import model_id
from index.models import resolve
from streams.local.processes import ServiceMissing
from streams.local.worker import WorkerProcess
from streams.settings import Settings, child_env
from tests.fixtures import INDEXED_S, READY_S, isolated_settings
from tests.integration.clients import chat, consume_keys, demo_items, index_holds, produce_json, publish_demo_content
from tests.services import required, wait_until

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/helpstream-base:bookworm"
RUNTIME = "localhost/helpstream:test-runtime"
WORKER = "localhost/helpstream:test-worker"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
RUN = ["podman", "--runtime", "runc", "run", "--network", "host", "--ulimit", "nofile=20000:20000"]
RUN += ["--ulimit", "nproc=4096:4096"]
IMAGE_LIMIT_MB = 1024
RSS_LIMIT_MB = 400
HEAVY = ("torch", "transformers", "sentence_transformers", "nvidia")


def podman(*args: str, timeout: float = 1800) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"podman {' '.join(args[:3])} exited {done.returncode}:\n{output[-4000:]}"
    return done.stdout


def build(target: str, tag: str, *args: str) -> float:
    """Seconds `podman build` took. The host's CA bundle is mounted for pip: egress here goes through a proxy that
    re-signs TLS."""
    started = time.monotonic()
    trust = ["--volume", f"{CA_BUNDLE}:/run/host-ca.crt:ro", "--build-arg", "PIP_CERT=/run/host-ca.crt"]
    podman("build", "--target", target, "--build-arg", f"BASE={BASE}", *trust, *args, "-t", tag, str(ROOT))
    return time.monotonic() - started


@pytest.fixture(scope="module")
def base_image() -> str:
    with required("podman"):
        missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
        if missing:
            raise ServiceMissing(f"{', '.join(missing)} not installed (Debian packages podman, runc, debootstrap)")
        if os.geteuid() != 0:
            raise ServiceMissing("building the Debian base with debootstrap needs root")
    done = subprocess.run([str(ROOT / "deploy/image/debian-base.sh"), BASE], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return BASE


@pytest.fixture(scope="module")
def runtime_image(base_image: str, figures: list[tuple[str, str]]) -> Iterator[str]:
    seconds = build("runtime", RUNTIME)
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", RUNTIME).strip()) / 2**20
    figures.append(("image: podman build of the runtime target (Debian 12 base)", f"{seconds:.0f} s"))
    figures.append((f"image: runtime image size (limit {IMAGE_LIMIT_MB} MB)", f"{size_mb:.0f} MB"))
    assert size_mb < IMAGE_LIMIT_MB
    yield RUNTIME


def container_env(settings: Settings) -> list[str]:
    """`--env` arguments: the settings as HELPSTREAM_* variables, and nothing else of this process's environment."""
    variables = {name: value for name, value in child_env(settings).items() if name.startswith("HELPSTREAM_")}
    return [arg for name, value in variables.items() for arg in ("--env", f"{name}={value}")]


def worker_settings(kafka: str, redis_url: str, **overrides: object) -> Settings:
    """The container's own paths: its data directory and the image's model root."""
    return isolated_settings(kafka, redis_url, Path("/data"), model_roots="/opt/helpstream", **overrides)


@pytest.fixture
def container() -> Iterator[list[str]]:
    """Names of containers the test started; removed at teardown, their logs kept beside the test's output."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["podman", "rm", "--force", "--time", "10", name], capture_output=True, check=False)


def start(image: str, settings: Settings, names: list[str], tmp_path: Path) -> tuple[WorkerProcess, int]:
    """A worker container, ready; (a handle for its health and metrics, its main process's pid on this host)."""
    name = f"helpstream-test-{uuid.uuid4().hex[:8]}"
    names.append(name)
    subprocess.run([*RUN, "--detach", "--name", name, *container_env(settings), image], check=True, capture_output=True)
    worker = WorkerProcess(settings, tmp_path / f"{name}.log")
    try:
        worker.wait_ready(READY_S)
    except TimeoutError:
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True, check=False)
        raise AssertionError(f"the container did not get ready:\n{(logs.stdout + logs.stderr)[-4000:]}") from None
    return worker, int(podman("inspect", "--format", "{{.State.Pid}}", name).strip())


def test_the_runtime_image_holds_no_torch_and_runs_as_its_own_user(runtime_image: str) -> None:
    probe = "import os, importlib.util as u; print(os.getuid(), [m for m in HEAVY if u.find_spec(m)])"
    probe = f"HEAVY = {HEAVY!r}; {probe}"
    done = subprocess.run(
        [*RUN, "--rm", "--entrypoint", "python3", runtime_image, "-c", probe], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10001", "[]"]


def test_a_worker_container_serves_chats_from_the_sessions_kafka_and_redis(
    runtime_image: str,
    kafka: str,
    redis_url: str,
    container: list[str],
    tmp_path: Path,
    figures: list[tuple[str, str]],
) -> None:
    settings = worker_settings(kafka, redis_url)
    worker, pid = start(runtime_image, settings, container, tmp_path)
    # The worker runs as the image's user, not root, on this host too (no user namespace).
    assert psutil.Process(pid).uids().real == 10001
    publish_demo_content(settings)
    wait_until(lambda: index_holds(worker, demo_items()), INDEXED_S, 0.5)
    status, health = worker.health()
    assert status == 200 and health["index"]["items"] == demo_items()
    keys = [f"image-{i}" for i in range(5)]
    produce_json(settings.broker, settings.topic_chat, (chat(key, "my card has not arrived yet") for key in keys))
    messages = consume_keys(settings.broker, settings.topic_recommendations, [key.encode() for key in keys], 60)
    assert len(messages) == len(keys)
    assert all(b'"card_arrival"' in message.value for message in messages.values())
    rss_mb = psutil.Process(pid).memory_info().rss / 2**20
    what = f"image: worker container RSS holding the demo index (limit {RSS_LIMIT_MB} MB)"
    figures.append((what, f"{rss_mb:.0f} MB"))
    assert rss_mb < RSS_LIMIT_MB


def test_the_export_stage_bakes_a_model_the_worker_image_serves(
    request: pytest.FixtureRequest,
    base_image: str,
    kafka: str,
    redis_url: str,
    container: list[str],
    tmp_path: Path,
    figures: list[tuple[str, str]],
) -> None:
    """The whole Dockerfile: torch installed in the export stage exports the model the worker target serves."""
    if not request.config.getoption("--export-image"):
        pytest.skip("the export stage installs torch (several GB): run with --export-image (make image-export)")
    # The CPU index of torch is not reachable here: PyPI's wheel, which carries CUDA, proves the same line.
    seconds = build("worker", WORKER, "--build-arg", "TORCH_INDEX=https://pypi.org/simple")
    size_mb = int(podman("image", "inspect", "--format", "{{.Size}}", WORKER).strip()) / 2**20
    figures.append(("image: podman build of the worker target, export stage included", f"{seconds:.0f} s"))
    figures.append(("image: worker image size", f"{size_mb:.0f} MB"))
    settings = worker_settings(kafka, redis_url, model="/opt/helpstream/model")
    worker, _ = start(WORKER, settings, container, tmp_path)
    publish_demo_content(settings)
    wait_until(lambda: index_holds(worker, demo_items()), INDEXED_S, 0.5)
    assert worker.health()[1]["model"]["id"] == model_id(resolve("minilm-l6"), "onnx")
    produce_json(settings.broker, settings.topic_chat, [chat("exported-1", "my card has not arrived yet")])
    messages = consume_keys(settings.broker, settings.topic_recommendations, [b"exported-1"], 60)
    assert b'"card_arrival"' in messages[b"exported-1"].value

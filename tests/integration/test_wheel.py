"""The package as users get it: a wheel built from the checkout, installed alone into a clean venv outside it (its
dependencies from PyPI, no extra), run from another directory.

That is the lean worker: no torch, sentence-transformers, transformers or CUDA package can be imported there, yet
`helpstream demo` runs on the default model and a worker serves a directory `helpstream model export` wrote with
the full install. The venv's size and that worker's memory are printed with the run's figures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from index.backends import model_id
from index.models import resolve
from schemas.registry import Registry
from streams.clients.kafka import KafkaConnection
from streams.engine.models import model_ref
from streams.local.ports import listener_ports
from streams.local.worker import WorkerProcess
from streams.registry.channel import write_registry
from streams.registry.state import seed
from streams.settings import Settings, child_env, isolated
from streams.topology.admin import ensure_topics
from streams.topology.topics import topic_specs
from tests.fixtures import INDEXED_S, READY_S, isolated_settings
from tests.integration.clients import (
    chat,
    consume_keys,
    demo_items,
    index_holds,
    produce_json,
    publish_demo_content,
    run_coroutine,
)
from tests.services import wait_until

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "streams", "agents", "index", "schemas"]
HEAVY = ("torch", "sentence_transformers", "transformers", "matplotlib", "triton", "nvidia")
VENV_LIMIT_MB = 1024
RSS_LIMIT_MB = 400


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def size_mb(path: Path) -> float:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink()) / 2**20


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, figures: list[tuple[str, str]]) -> Iterator[Path]:
    """The bin directory of a clean venv with the helpstream wheel and its declared dependencies alone."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    wheel_command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        "dist",
        "./source",
    ]
    run(wheel_command, cwd=work)
    (wheel,) = (work / "dist").glob("helpstream-*.whl")

    clean = work / "venv"
    venv.create(clean, with_pip=False, system_site_packages=False)
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "--python", str(clean / "bin" / "python"), "install", str(wheel)], cwd=work)
    figures.append(
        ("lean install: pip install of the base wheel and its dependencies", f"{time.monotonic() - started:.0f} s")
    )
    yield clean / "bin"


def test_the_base_install_has_no_torch_and_fits_its_budget(
    installed: Path, tmp_path: Path, figures: list[tuple[str, str]]
) -> None:
    probe = f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])"
    assert run([str(installed / "python"), "-c", probe], cwd=tmp_path).strip() == "[]"
    done = subprocess.run(
        [str(installed / "python"), "-c", "import torch"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0 and "No module named 'torch'" in done.stderr
    venv_mb = size_mb(installed.parent)
    figures.append(("lean install: venv size (limit 1 GB)", f"{venv_mb:.0f} MB"))
    assert venv_mb < VENV_LIMIT_MB


def test_the_wheel_holds_the_code_and_data_and_every_dependency_is_declared(installed: Path, tmp_path: Path) -> None:
    where = run(
        [str(installed / "python"), "-c", "import streams, agents; print(streams.__file__, agents.__file__)"],
        cwd=tmp_path,
    )
    assert str(ROOT) not in where
    # Every file the code reads at run time came with the wheel.
    files = (
        "import importlib.resources as r; "
        "print(all((r.files(p) / n).is_file() for p, n in ["
        "('streams.web', 'static/console.html'), ('streams.web', 'static/style.css'), "
        "('streams.local', 'apache-kafka.pom.xml'), ('streams.demo', 'data/content.jsonl'), "
        "('index', 'data/bert-base-uncased-tokenizer.json'), ('schemas', 'json/recommendations.schema.json')]))"
    )
    assert run([str(installed / "python"), "-c", files], cwd=tmp_path).strip().endswith("True")
    assert str(installed.parent) in where
    run([sys.executable, "-m", "pip", "--python", str(installed / "python"), "check"], cwd=tmp_path)


def test_a_command_that_needs_an_extra_names_it_in_one_line(installed: Path, tmp_path: Path, data_dir: Path) -> None:
    env = child_env(Settings(data_dir=data_dir))  # type: ignore[call-arg]
    for command, extra in (
        (["bench", "--quick"], "bench"),
        (["budget", "--quick"], "bench"),
        (["tune"], "tune"),
        (["model", "export", "minilm-l6", "--out", str(tmp_path / "out")], "torch"),
    ):
        done = subprocess.run(
            [str(installed / "helpstream"), *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode != 0, command
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pip install 'helpstream[{extra}]'" in lines[0], (command, done.stderr)
    for variable, value in (("HELPSTREAM_ENCODER", "torch"), ("HELPSTREAM_MODEL", "minilm-l6")):
        done = subprocess.run(
            [str(installed / "helpstream"), "worker"],
            cwd=tmp_path,
            env={**env, variable: value},
            capture_output=True,
            text=True,
            check=False,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("helpstream: invalid") and variable in lines[0], lines[0]
        assert lines[0].endswith("pip install 'helpstream[torch]'") or "pip install 'helpstream[torch]' (" in lines[0]


def test_demo_and_publish_run_from_another_directory(
    installed: Path, tmp_path: Path, kafka: str, redis_url: str, data_dir: Path, figures: list[tuple[str, str]]
) -> None:
    settings = Settings(broker="", redis_url=redis_url, **listener_ports(), data_dir=data_dir)  # type: ignore[call-arg]
    demo = run(
        [str(installed / "helpstream"), "demo", "--once", "--chats", "30", "--rate", "30"],
        cwd=tmp_path,
        env=child_env(settings),
    )
    assert "recommendations received         30" in demo
    top1 = re.search(r"top-1 matches the chat's intent\s+([\d.]+%)", demo)
    figures.append(("lean install: `helpstream demo --once`, top-1 of 30 chats", top1.group(1) if top1 else "?"))

    on_kafka = isolated(settings.model_copy(update={"broker": kafka}), "wheel")
    published = run(
        [str(installed / "helpstream"), "publish", "content", "--demo"], cwd=tmp_path, env=child_env(on_kafka)
    )
    assert f"published 83 content.updated events to {on_kafka.topic_content}" in published


def test_a_lean_worker_serves_an_exported_directory_with_the_full_installs_id(
    installed: Path,
    tmp_path: Path,
    kafka: str,
    redis_url: str,
    data_dir: Path,
    exported_minilm: Path,
    figures: list[tuple[str, str]],
) -> None:
    settings = isolated_settings(kafka, redis_url, tmp_path / "data", model=str(exported_minilm))
    # A full-install worker seeded the group's registry with `minilm-l6`, which a lean worker cannot export: it
    # serves the registry's model from its own exported directory, as the id is the same.
    seeded = seed(Registry(), model_ref("minilm-l6", "onnx"))
    assert seeded is not None
    connection = KafkaConnection.of(settings)
    run_coroutine(ensure_topics(connection, topic_specs(settings)))
    run_coroutine(write_registry(connection, settings, seeded))
    worker = WorkerProcess(settings, tmp_path / "lean-worker.log", helpstream=installed / "helpstream").start()
    try:
        worker.wait_ready(READY_S)
        assert worker.process is not None
        ready_mb = psutil.Process(worker.process.pid).memory_info().rss / 2**20
        publish_demo_content(settings)
        wait_until(lambda: index_holds(worker, demo_items()), INDEXED_S, 0.5)
        expected = model_id(resolve("minilm-l6"), "onnx")
        assert worker.health()[1]["model"]["id"] == expected
        produce_json(
            settings.broker, settings.topic_chat, (chat(f"lean-{i}", "my card has not arrived yet") for i in range(5))
        )
        messages = consume_keys(
            settings.broker, settings.topic_recommendations, [f"lean-{i}".encode() for i in range(5)], 60
        )
        assert len(messages) == 5
        assert all(b'"card_arrival"' in m.value and expected.encode() in m.value for m in messages.values())
        rss_mb = psutil.Process(worker.process.pid).memory_info().rss / 2**20
    finally:
        worker.stop()
    figures.append(("lean worker RSS when ready, index empty", f"{ready_mb:.0f} MB"))
    figures.append((f"lean worker RSS holding the demo index ({demo_items()} items), limit 400 MB", f"{rss_mb:.0f} MB"))
    assert rss_mb < RSS_LIMIT_MB

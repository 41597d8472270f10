"""docker-compose.yml is for users (no Docker engine runs here): its structure is checked against the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def workers(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if name.startswith("worker")}


def test_kafka_runs_in_kraft_mode_and_kafka_and_redis_have_healthchecks(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(kafka["environment"])
    for name in ("kafka", "redis"):
        assert services[name]["healthcheck"]["test"]


def test_workers_wait_for_healthy_services_and_their_environment_is_valid_settings(services: dict[str, Any]) -> None:
    assert len(workers(services)) >= 2
    for worker in workers(services).values():
        assert worker["depends_on"] == {
            "kafka": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        env = worker["environment"]
        unknown = [k for k in env if k.removeprefix("HELPSTREAM_").lower() not in Settings.model_fields]
        assert unknown == []
        settings = Settings(**{k.removeprefix("HELPSTREAM_").lower(): v for k, v in env.items()})
        host, port = settings.broker.split(":")
        assert host in services
        assert f"PLAINTEXT://{host}:{port}" in services[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        assert settings.redis_url.startswith("redis://redis:")
        assert settings.public_host == "0.0.0.0"
        assert settings.web_host == "127.0.0.1"  # the console and feedback only inside the container
        assert settings.require_services
        published = {mapping.split(":")[1] for mapping in worker["ports"]}
        assert published == {str(settings.public_port)}
        assert f"127.0.0.1:{settings.web_port}/healthz" in " ".join(worker["healthcheck"]["test"])


def test_every_worker_publishes_its_public_port_on_a_different_host_port(services: dict[str, Any]) -> None:
    host_ports = [mapping.split(":")[0] for w in workers(services).values() for mapping in w["ports"]]
    assert len(host_ports) == len(set(host_ports))


def test_the_worker_image_installs_the_built_wheel_not_the_source_tree(services: dict[str, Any]) -> None:
    dockerfile = services["worker-1"]["build"]["dockerfile_inline"]
    stages = dockerfile.split("\nFROM ")
    assert len(stages) == 3
    assert "pip wheel" in stages[0]
    assert "COPY . ." not in dockerfile
    assert all("COPY --from=wheel /wheels /wheels" in stage for stage in stages[1:])
    assert all(w["restart"] == "unless-stopped" for w in workers(services).values())


def test_torch_exports_the_model_in_a_build_stage_and_the_runtime_installs_the_base_wheel_alone(
    services: dict[str, Any],
) -> None:
    build = services["worker-1"]["build"]
    export, runtime = build["dockerfile_inline"].split("\nFROM ")[1:]
    assert export.startswith("python:3.11-slim AS export")
    assert "download.pytorch.org/whl/cpu torch" in export and "[torch]" in export
    assert 'helpstream model export "$MODEL" --out /export/model' in export
    assert build["args"]["MODEL"] == "minilm-l6" and "ARG MODEL=minilm-l6" in export  # `docker build` alone too
    # models/ is copied after torch is installed: a new model directory does not download torch again.
    assert export.index("COPY models /src/models") > export.index("[torch]")
    # The runtime stage: no torch, no extra, only the base wheel and the exported directory.
    installs = [line for line in runtime.splitlines() if "pip install" in line]
    assert installs == ["RUN pip install --no-cache-dir /wheels/helpstream-*.whl"]
    assert "torch" not in runtime.lower() and "[" not in installs[0]
    assert "COPY --from=export /export/model /opt/helpstream/model" in runtime
    assert "ENV HELPSTREAM_MODEL=/opt/helpstream/model HELPSTREAM_MODEL_ROOTS=/opt/helpstream" in runtime
    assert (COMPOSE.parent / "models" / ".gitignore").is_file()  # the export stage copies models/ from the context


def test_every_worker_sees_model_directories_at_the_same_path(services: dict[str, Any]) -> None:
    workers = [service for name, service in services.items() if name.startswith("worker")]
    assert len(workers) == 2
    assert all(worker["volumes"] == ["./models:/models:ro"] for worker in workers)

"""docker-compose.yml is for users (no Docker engine runs here): its structure is checked against the settings, with
the variables of `.env.example` filled in. Its broker (`deploy/kafka/start.sh`) runs for real in the ACL test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.registry.signing import generate
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
EXAMPLE = dict(
    line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if line and line[0] != "#"
)


def filled(value: str) -> str:
    """`${NAME:?message}` as compose fills it from .env (.env.example here)."""
    return re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", lambda m: EXAMPLE[m.group(1)], value)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def workers(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if name.startswith("worker")}


def test_kafka_runs_the_tested_start_script_with_every_password_from_env_and_only_loopback_published(
    services: dict[str, Any],
) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["entrypoint"] == ["/bin/bash", "/opt/helpstream/start.sh"]
    assert "./deploy/kafka/start.sh:/opt/helpstream/start.sh:ro" in kafka["volumes"]
    assert all(v.startswith("${") and v.endswith("}") for v in kafka["environment"].values())
    assert set(kafka["environment"]) == {name for name in EXAMPLE if name.startswith("KAFKA_")}
    assert kafka["ports"] == ["127.0.0.1:29092:29092"]
    script = (ROOT / "deploy" / "kafka" / "start.sh").read_text()
    assert "allow.everyone.if.no.acl.found=false" in script
    assert "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,HOST:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT" in script
    assert "CONTROLLER://127.0.0.1:" in script  # the only listener without SASL never leaves the container
    for name in ("kafka", "redis"):
        assert services[name]["healthcheck"]["test"]


def test_redis_needs_a_password_and_the_acls_are_applied_before_any_worker_starts(services: dict[str, Any]) -> None:
    assert "--requirepass" in services["redis"]["command"]
    acl = services["acl"]
    assert acl["command"] == ["acl", "apply"]
    assert acl["environment"]["HELPSTREAM_BROKER_USERNAME"] == "admin"
    assert acl["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_workers_wait_for_the_acls_and_their_environment_is_valid_secured_settings(
    services: dict[str, Any], tmp_path: Path
) -> None:
    assert len(workers(services)) >= 2
    public_key = generate(tmp_path)[1]
    for worker in workers(services).values():
        assert worker["depends_on"] == {
            "acl": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
        env = worker["environment"]
        unknown = [k for k in env if k.removeprefix("HELPSTREAM_").lower() not in Settings.model_fields]
        assert unknown == []
        assert env["HELPSTREAM_REGISTRY_PUBLIC_KEY"] == "/run/secrets/registry-public-key"
        assert worker["secrets"] == ["registry-public-key"]
        values = {k.removeprefix("HELPSTREAM_").lower(): filled(v) for k, v in env.items()}
        settings = Settings(**{**values, "registry_public_key": public_key})
        assert settings.broker == "kafka:9092"  # start.sh's INTERNAL listener, as advertised
        assert (settings.broker_security_protocol, settings.broker_sasl_mechanism) == (
            "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
        )
        assert settings.broker_username == "helpstream-worker"
        assert settings.redis_url == f"redis://:{EXAMPLE['REDIS_PASSWORD']}@redis:6379/0"
        assert settings.public_host == "0.0.0.0"
        assert settings.web_host == "127.0.0.1"  # the console and feedback only inside the container
        assert settings.require_services
        published = {mapping.split(":")[1] for mapping in worker["ports"]}
        assert published == {str(settings.public_port)}
        assert f"127.0.0.1:{settings.web_port}/healthz" in " ".join(worker["healthcheck"]["test"])


def test_every_worker_publishes_its_public_port_on_a_different_host_port(services: dict[str, Any]) -> None:
    host_ports = [mapping.split(":")[0] for w in workers(services).values() for mapping in w["ports"]]
    assert len(host_ports) == len(set(host_ports))


def test_workers_build_the_dockerfiles_worker_target_with_the_model_as_an_argument(services: dict[str, Any]) -> None:
    build = services["worker-1"]["build"]
    assert (build["dockerfile"], build["target"]) == ("Dockerfile", "worker")
    assert build["args"]["MODEL"] == "minilm-l6" and "ARG MODEL=minilm-l6" in DOCKERFILE.read_text()
    assert all(w["build"] == build and w["restart"] == "unless-stopped" for w in workers(services).values())
    assert (COMPOSE.parent / "models" / ".gitignore").is_file()  # the export stage copies models/ from the context


def test_the_runtime_stage_installs_the_base_wheel_alone_and_runs_as_a_user() -> None:
    """The lean worker: no torch, no extra. tests/image builds and runs it; this names what it must not hold."""
    stages = {chunk.split()[2]: chunk for chunk in DOCKERFILE.read_text().split("\nFROM ")[1:]}
    runtime = stages["runtime"]
    installs = [line for line in runtime.splitlines() if "pip install" in line]
    assert installs == ["RUN pip install /wheels/helpstream-*.whl"]
    assert "torch" not in runtime.lower() and "COPY . ." not in DOCKERFILE.read_text()
    assert "\nUSER 10001\n" in runtime and runtime.index("USER 10001") < runtime.index("ENTRYPOINT")


def test_every_worker_sees_model_directories_at_the_same_path(services: dict[str, Any]) -> None:
    workers = [service for name, service in services.items() if name.startswith("worker")]
    assert len(workers) == 2
    assert all(worker["volumes"] == ["./models:/models:ro"] for worker in workers)

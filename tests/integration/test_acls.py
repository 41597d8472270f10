"""Least privilege on Apache Kafka as the compose file runs it (`deploy/kafka/start.sh`: SASL/SCRAM users, the
StandardAuthorizer with nothing allowed without an ACL), with `helpstream acl apply` granting each of the five
principals its job and nothing else. The worker, as its own principal, follows only registry records signed with
the operators' key, and promotes that pass the gates or are forced with a reason and an operator.

Every cell of the principal x action table is one real produce or fetch on the broker, printed in the run's figures.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError
from pydantic import SecretStr

from schemas import encode
from schemas.registry import REGISTRY_KEY
from streams.clients.kafka import KafkaConnection
from streams.demo.datasets import demo_content
from streams.local.ports import listener_ports
from streams.registry.channel import read_control, write_registry
from streams.registry.signing import generate
from streams.registry.state import promote
from streams.settings import Settings, child_env, isolated
from streams.topology.acls import Principals
from streams.topology.admin import ensure_topics
from streams.topology.topics import topic_specs
from tests.fixtures import Workers
from tests.integration.clients import chat, now, produce, run_coroutine
from tests.services import compose_kafka, wait_until

PRINCIPALS = Principals()
USERS = {name.removeprefix("User:"): f"pw-{uuid.uuid4().hex}" for name in ["User:admin", *PRINCIPALS.roles().values()]}
CONTENT = ["card_arrival", "activate_my_card", "age_limit", "atm_support", "cancel_transfer", "card_acceptance"]


@dataclass(frozen=True)
class SecuredGroup:
    """One run's topics with the ACLs applied; `as_(role)` are the settings that principal connects with."""

    base: Settings
    keys: tuple[Path, Path]  # (private, public)

    def as_(self, role: str) -> Settings:
        name = "admin" if role == "admin" else PRINCIPALS.roles()[role].removeprefix("User:")
        return self.base.model_copy(update={"broker_username": name, "broker_password": SecretStr(USERS[name])})

    def kafka(self, role: str) -> KafkaConnection:
        return KafkaConnection.of(self.as_(role))


@pytest.fixture(scope="module")
def authorized_kafka(tmp_path_factory: pytest.TempPathFactory, figures: list[tuple[str, str]]) -> Iterator[str]:
    """The compose file's broker, from its own start script."""
    roles = {"admin": "ADMIN", **{p.removeprefix("User:"): r.upper() for r, p in PRINCIPALS.roles().items()}}
    passwords = {f"KAFKA_{roles[user]}_PASSWORD": password for user, password in USERS.items()}
    with compose_kafka(tmp_path_factory.mktemp("acl-kafka"), passwords) as (bootstrap, version):
        figures.append(
            (
                "ACL broker (deploy/kafka/start.sh)",
                f"Apache Kafka {version}, SASL_PLAINTEXT SCRAM-SHA-512, StandardAuthorizer, no ACL: deny",
            )
        )
        yield bootstrap


@pytest.fixture
def group(authorized_kafka: str, redis_url: str, data_dir: Path, tmp_path: Path) -> SecuredGroup:
    private, public = generate(tmp_path / "keys")
    base = Settings(
        broker=authorized_kafka,
        broker_security_protocol="SASL_PLAINTEXT",
        broker_sasl_mechanism="SCRAM-SHA-512",
        broker_username="admin",
        broker_password=USERS["admin"],
        redis_url=redis_url,
        require_services=True,
        data_dir=data_dir,
        registry_public_key=public,
        model_roots=str(tmp_path),
        **listener_ports(),
    )  # type: ignore[call-arg]
    secured = SecuredGroup(isolated(base, f"a{uuid.uuid4().hex[:8]}"), (private, public))
    applied = cli(secured.as_("admin"), "acl", "apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    run_coroutine(ensure_topics(secured.kafka("admin"), topic_specs(secured.base)))
    return secured


def cli(settings: Settings, *args: str, **overrides: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=child_env(settings, **overrides),
        capture_output=True,
        text=True,
        timeout=180,
    )


async def _probe(kafka: KafkaConnection, action: str, topic: str) -> str:
    try:
        async with asyncio.timeout(20):
            if action == "write":
                async with AIOKafkaProducer(
                    **kafka.client_options(), acks="all", enable_idempotence=False, request_timeout_ms=8000
                ) as producer:
                    await producer.send_and_wait(topic, b"{}", key=b"acl-probe", partition=0)
            else:
                # Subscribed, not assigned: an unauthorised topic then raises at once instead of waiting for
                # metadata the broker will never give.
                consumer = AIOKafkaConsumer(topic, **kafka.client_options(), group_id=None, enable_auto_commit=False)
                try:
                    await consumer.start()
                    await consumer.getmany(timeout_ms=1500)
                    await consumer.getmany(timeout_ms=500)
                finally:
                    await consumer.stop()
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as exc:
        return f"denied ({type(exc).__name__})"
    except (KafkaError, TimeoutError) as exc:  # not the broker's answer: fails the table
        return f"error ({type(exc).__name__})"
    return "allowed"


def test_each_forbidden_action_is_denied_by_the_broker_and_each_needed_one_allowed(
    group: SecuredGroup, figures: list[tuple[str, str]]
) -> None:
    s = group.base
    actions = {
        "write chats": ("write", s.topic_chat),
        "read chats": ("read", s.topic_chat),
        "write content": ("write", s.topic_content),
        "read recommendations": ("read", s.topic_recommendations),
        "write feedback": ("write", s.topic_feedback),
        "write registry": ("write", s.topic_models),
        "read registry": ("read", s.topic_models),
        "write figures": ("write", s.topic_figures),
    }
    allowed = {
        "worker": {"read chats", "read recommendations", "write feedback", "read registry", "write figures"},
        "operator": {"write registry", "read registry"},
        "chat_platform": {"write chats"},
        "cms": {"write content"},
        "agent_ui": {"read recommendations", "write feedback"},
    }
    table = {
        role: {name: run_coroutine(_probe(group.kafka(role), *actions[name])) for name in actions} for role in allowed
    }
    width = max(map(len, actions)) + 2
    lines = [f"{'principal':<14}" + "".join(f"{name:<{width}}" for name in actions)]
    lines += [f"{role:<14}" + "".join(f"{table[role][n].split()[0]:<{width}}" for n in actions) for role in table]
    figures.append(("Kafka ACLs, principal x action (broker's answer)", "\n" + "\n".join(lines)))
    wrong = {
        (role, name): cell
        for role, cells in table.items()
        for name, cell in cells.items()
        if (cell == "allowed") != (name in allowed[role])
    }
    assert wrong == {}


def test_every_principal_does_its_job_and_the_worker_follows_only_signed_gated_registry_records(
    group: SecuredGroup, workers: Workers, figures: list[tuple[str, str]]
) -> None:
    worker = workers.start(group.as_("worker"), "acl-worker")
    worker.wait_ready(180)
    lines = [line for line in demo_content().read_bytes().splitlines() if line.strip()]
    items = [line for line in lines if orjson.loads(line)["content_id"] in CONTENT]
    produce(group.kafka("cms"), group.base.topic_content, ((orjson.loads(i)["content_id"].encode(), i) for i in items))
    wait_until(lambda: worker.health()[1]["index"]["items"] == len(CONTENT), 180, 0.5)

    produce(
        group.kafka("chat_platform"),
        group.base.topic_chat,
        [
            (k.encode(), orjson.dumps(v))
            for k, v in [chat(f"acl-{i}", "my card still has not arrived") for i in range(5)]
        ],
    )
    recs = _read_as_agent_ui(group, {f"acl-{i}".encode() for i in range(5)})
    assert {orjson.loads(v)["items"][0]["content_id"] for v in recs.values()} == {"card_arrival"}
    feedback = {"chat_id": "acl-0", "content_id": "card_arrival", "rank": 1, "action": "used", "at": now()}
    produce(group.kafka("agent_ui"), group.base.topic_feedback, [(b"acl-0", orjson.dumps(feedback))])

    operator = group.as_("operator").model_copy(update={"registry_signing_key": group.keys[0]})
    listed = cli(operator, "model", "list")
    assert listed.returncode == 0, listed.stderr
    added = cli(operator, "model", "add", "minilm-l6-onnx", "--backend", "onnx-int8", "--operator", "alice")
    assert added.returncode == 0, added.stderr
    wait_until(lambda: worker.health()[1]["registry"]["revision"] == 2, 60, 0.5)

    # A plain producer with the operator's login but not the key, and a signed forced promote with no reason.
    control = run_coroutine(read_control(group.kafka("operator"), group.base))
    candidate = control.registry.candidates[0].model_id
    forged = encode(promote(control.registry, candidate))
    produce(group.kafka("operator"), group.base.topic_models, [(REGISTRY_KEY.encode(), forged)])
    unreasoned = promote(control.registry, candidate, forced_why=" ")
    run_coroutine(write_registry(group.kafka("operator"), operator, unreasoned))
    wait_until(lambda: sum(worker.health()[1]["registry"]["refused"].values()) == 2, 60, 0.5)
    health = worker.health()[1]
    assert health["registry"]["refused"] == {"unsigned": 1, "gates": 1}
    assert health["model"]["id"] == control.registry.active.model_id  # type: ignore[union-attr]
    log = worker.log_path.read_text()
    assert "(unsigned)" in log and "without a reason and an operator" in log
    assert all(password not in log for password in USERS.values())
    figures.append(("registry records refused by the worker", f"{health['registry']['refused']}"))


def _read_as_agent_ui(group: SecuredGroup, keys: set[bytes]) -> dict[bytes, bytes]:
    """The agent UI's own consumer group (under its ACL prefix), from the beginning."""

    async def read() -> dict[bytes, bytes]:
        consumer = AIOKafkaConsumer(
            group.base.topic_recommendations,
            **group.kafka("agent_ui").client_options(),
            group_id=f"{PRINCIPALS.agent_ui_group}-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        found: dict[bytes, bytes] = {}
        try:
            async with asyncio.timeout(120):
                while not keys <= found.keys():
                    for batch in (await consumer.getmany(timeout_ms=500)).values():
                        found.update((m.key, m.value) for m in batch if m.key in keys and m.value is not None)
        finally:
            await consumer.stop()
        return found

    return run_coroutine(read())

"""Poison pills through a real broker, on both topics, in the middle of good traffic: each bad event is
dead-lettered with a reason that says why, its batch-mates carry on, and the worker never restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from schemas import DeadLetter
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import Workers
from tests.integration.clients import chat, consume_keys, now, produce, search
from tests.reliability.harness import Outcomes
from tests.services import wait_until

ONE_MEGABYTE_TEXT = "x" * 1_000_000


def bad_chats(run: str) -> dict[str, tuple[bytes | None, str]]:
    """key → (raw value, what the dead letter's reason must say)."""
    at = now()
    cases: dict[str, tuple[bytes | None, str]] = {
        "not-json": (b"{not json", "not valid JSON"),
        "array": (b"[1, 2, 3]", "expected a JSON object"),
        "null-value": (None, "empty value"),
        "no-text": (orjson.dumps({"chat_id": "x", "created_at": at}), "text: Field required"),
        "number-id": (orjson.dumps({"chat_id": 42, "text": "hi", "created_at": at}), "chat_id: Input should be"),
        "long-text": (orjson.dumps({"chat_id": "x", "text": "y" * 4001, "created_at": at}), "at most 4000 characters"),
        "one-megabyte": (orjson.dumps({"chat_id": "x", "text": ONE_MEGABYTE_TEXT, "created_at": at}), "at most"),
        "bad-time": (orjson.dumps({"chat_id": "x", "text": "hi", "created_at": "yesterday"}), "created_at"),
        "naive-time": (orjson.dumps({"chat_id": "x", "text": "hi", "created_at": "2026-11-29T09:00:00"}), "timezone"),
        "binary": (b"\xff\xfe\x00binary", "not valid JSON"),
        "empty-text": (orjson.dumps({"chat_id": "x", "text": "", "created_at": at}), "at least 1 character"),
    }
    return {f"{run}-bad-{name}": case for name, case in cases.items()}


def bad_content(run: str) -> dict[str, tuple[bytes, str]]:
    def item(**fields: Any) -> bytes:
        base = {"content_id": f"{run}-item", "kind": "help_article", "op": "upsert", "version": 1,
                "title": "T", "body": "B"}  # fmt: skip
        return orjson.dumps({**base, **fields})

    cases = {
        "no-body": (
            orjson.dumps({"content_id": "x", "op": "upsert", "version": 1}),
            "an upsert needs kind, title, body",
        ),
        "long-title": (item(title="t" * 301), "title: String should have at most 300 characters"),
        "long-body": (item(body="b" * 20_001), "body: String should have at most 20000 characters"),
        "many-queries": (item(example_queries=["q"] * 501), "at most 500 items"),
        "long-query": (item(example_queries=["q" * 1001]), "at most 1000 characters"),
        "bad-op": (item(op="merge"), "op: Input should be 'upsert' or 'delete'"),
        "bad-kind": (item(kind="faq"), "kind: Input should be"),
        "text-version": (item(version="7"), "version: Input should be a valid integer"),
        "negative-version": (item(version=-1), "version: Input should be greater than or equal to 0"),
        "huge": (item(body="b" * 1_000_000), "at most 20000 characters"),
    }
    return {f"{run}-bad-{name}": case for name, case in cases.items()}


def test_poison_pills_on_both_topics_are_dead_lettered_and_the_events_around_them_carry_on(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "poison")
    run = uuid.uuid4().hex[:4]
    chats, items = bad_chats(run), bad_content(run)
    records: list[tuple[bytes | None, bytes | None]] = []
    good: list[str] = []
    for i, (key, (raw, _)) in enumerate(chats.items()):
        for j in range(3):  # good chats on both sides of each bad one, in the same batches
            good.append(f"{run}-good-{i}-{j}")
            records.append((good[-1].encode(), orjson.dumps(chat(good[-1], "I lost my card")[1])))
        records.append((key.encode(), raw))
    started = time.monotonic()
    with Outcomes(settings) as outcomes:
        produce(settings.broker, settings.topic_chat, records)  # type: ignore[arg-type]
        vault = {"content_id": f"{run}-vault", "kind": "help_article", "op": "upsert", "version": 1}
        good_item = orjson.dumps({**vault, "title": "Safe deposit boxes", "body": "Rent a vault box for jewellery."})
        content = [*((key.encode(), raw) for key, (raw, _) in items.items()), (f"{run}-vault".encode(), good_item)]
        produce(settings.broker, settings.topic_content, content)
        outcomes.wait_settled([*good, *chats], 120)
        account = outcomes.account(
            "poison pills (11 kinds on chats, 10 on content) among 33 good chats", [*good, *chats]
        )
    letters = {
        key.decode(): DeadLetter.model_validate_json(m.value)
        for key, m in consume_keys(
            settings.broker, settings.topic_dead_letter, [k.encode() for k in [*chats, *items]], 60
        ).items()
    }
    for key, (_, reason) in {**chats, **items}.items():
        assert key in letters, key
        assert reason in letters[key].reason, (key, letters[key].reason)
    assert account.recommended == len(good) and account.dead_lettered == len(chats) and account.lost == 0
    one_mb = letters[f"{run}-bad-one-megabyte"]
    assert one_mb.value_truncated and one_mb.value_size and one_mb.value_size > 1_000_000
    wait_until(lambda: search(worker, "vault box for jewellery")[1]["results"][0]["content_id"] == f"{run}-vault", 60)
    assert_never_restarted(worker)
    figures.append(account.row())
    figures.append(("reliability: poison pills handled in", f"{time.monotonic() - started:.1f} s"))


def assert_never_restarted(worker: WorkerProcess) -> None:
    assert worker.process is not None and worker.process.poll() is None
    assert worker.health()[0] == 200
    assert "crashing so it is redelivered" not in worker.log_path.read_text()

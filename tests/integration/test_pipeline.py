"""The three patterns end to end on Apache Kafka and Redis: chat recommendations, CMS sync, help search.

Tests share one worker (module scope) and never depend on each other's order: each waits for its own events by
key, counts metrics as differences, and edits only content it created itself.
"""

from __future__ import annotations

import importlib.resources
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import orjson
import pytest
import redis

from schemas import DeadLetter, Recommendation
from streams.clients.http import get_json
from streams.clients.publish import read_chats
from streams.demo.datasets import demo_chats
from streams.engine.recommendation_store import redis_key
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import Workers
from tests.integration.clients import (
    chat,
    consume_keys,
    demo_items,
    index_holds,
    now,
    produce,
    produce_json,
    publish_demo_content,
    search,
)
from tests.services import wait_until

SCHEMAS = importlib.resources.files("schemas") / "json"


@pytest.fixture(scope="module")
def stack(make_settings: Callable[..., Settings], workers: Workers) -> Iterator[tuple[Settings, WorkerProcess]]:
    settings = make_settings(recommendation_timings=True)
    yield settings, workers.start_with_demo_content(settings, "pipeline")


def test_every_chat_gets_one_contract_valid_recommendation(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    held_out = read_chats(demo_chats())
    intents = {f"c-{i}": c.intent for i, c in enumerate(held_out)}
    produce_json(settings.broker, settings.topic_chat, (chat(f"c-{i}", c.text) for i, c in enumerate(held_out)))

    messages = consume_keys(
        settings.broker, settings.topic_recommendations, {c.encode() for c in intents}, 300
    ).values()

    schema = json.loads((SCHEMAS / "recommendations.schema.json").read_text())
    recs = {}
    for message in messages:
        body = orjson.loads(message.value)
        jsonschema.validate(body, schema)
        assert "__faust" not in body
        rec = Recommendation.model_validate(body)
        assert message.key == rec.chat_id.encode()
        ids = [item.content_id for item in rec.items]
        assert len(ids) == len(set(ids)) == settings.top_k
        assert [item.score for item in rec.items] == sorted((item.score for item in rec.items), reverse=True)
        assert rec.latency_ms >= 0
        recs[rec.chat_id] = rec
    assert set(recs) == set(intents)
    top1 = sum(recs[cid].items[0].content_id == intent for cid, intent in intents.items()) / len(intents)
    top3 = sum(intent in [i.content_id for i in recs[cid].items] for cid, intent in intents.items()) / len(intents)
    figures.append(("held-out Banking77 chats (never example queries)", f"{len(intents)}"))
    figures.append(("top-1 saved response matches the intent", f"{top1:.2%}"))
    figures.append(("intent among the top-3 saved responses", f"{top3:.2%}"))
    assert top1 >= 0.90
    assert top3 >= 0.96

    stored = worker.url + "/recommendations/c-7"
    status, body = get_json(stored)
    assert status == 200
    assert Recommendation.model_validate(body) == recs["c-7"]
    assert 0 < redis.Redis.from_url(settings.redis_url).ttl(redis_key("c-7")) <= settings.recommendation_ttl_s
    assert get_json(worker.url + "/recommendations/nope")[0] == 404


def test_a_recommendations_stages_add_up_to_its_latency_and_reach_the_metrics(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    texts = [c.text for c in read_chats(demo_chats())[:40]]
    keys = [f"timed-{uuid.uuid4().hex[:6]}-{i}" for i in range(len(texts))]
    produce_json(settings.broker, settings.topic_chat, (chat(key, text) for key, text in zip(keys, texts, strict=True)))
    messages = consume_keys(settings.broker, settings.topic_recommendations, {k.encode() for k in keys}, 120)
    recs = [Recommendation.model_validate_json(m.value) for m in messages.values()]
    assert len(recs) == len(keys)
    worst = 0.0
    for rec in recs:
        assert rec.timings is not None
        stages = rec.timings.model_dump(exclude={"loop_lag_ms"})
        worst = max(worst, abs(sum(stages.values()) - rec.latency_ms))
        assert rec.timings.encode_ms > 0 and rec.timings.broker_ms > 0
    assert worst <= 1.5  # ms: each stage is rounded, and `latency_ms` to a tenth
    figures.append(("a chat's stages against its latency_ms, worst of 40", f"{worst:.2f} ms apart"))

    status, body = search(worker, "my card has not arrived", k=3)
    assert status == 200
    assert abs(sum(body["timings"].values()) - body["took_ms"]) <= 1.5
    chat_encodes = worker.metric("helpstream_stage_seconds_count", pattern="chat", stage="encode")
    assert chat_encodes >= len(keys)
    assert worker.metric("helpstream_stage_seconds_count", pattern="chat", stage="publish") >= len(keys)
    assert worker.metric("helpstream_stage_seconds_count", pattern="search", stage="search") >= 1


def test_an_edit_and_a_delete_show_in_search_and_a_stale_edit_changes_nothing(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    content_id = f"help_vault_{uuid.uuid4().hex[:6]}"
    query = "can I rent a safe deposit box for my jewellery"

    def top(**params: Any) -> list[dict[str, Any]]:
        status, body = search(worker, query, k=10, **params)
        assert status == 200
        results: list[dict[str, Any]] = body["results"]
        return results

    def article(version: int, title: str) -> dict[str, Any]:
        body = "Rent a safe deposit box in a branch vault for jewellery, documents and other valuables."
        return {"content_id": content_id, "kind": "help_article", "op": "upsert", "version": version,
                "title": title, "body": body, "updated_at": now()}  # fmt: skip

    produce_json(settings.broker, settings.topic_content, [(content_id, article(1, "Safe deposit boxes"))])
    wait_until(lambda: top()[0]["content_id"] == content_id, 30, 0.02)

    produce_json(settings.broker, settings.topic_content, [(content_id, article(2, "Vault boxes for valuables"))])
    seen_edit = wait_until(lambda: top()[0]["title"] == "Vault boxes for valuables", 30, 0.02)

    delete = {"content_id": content_id, "op": "delete", "version": 3}
    produce_json(settings.broker, settings.topic_content, [(content_id, delete)])
    seen_delete = wait_until(lambda: content_id not in [r["content_id"] for r in top()], 30, 0.02)
    figures.append(("edit visible in /search after", f"{seen_edit * 1000:.0f} ms"))
    figures.append(("delete visible in /search after", f"{seen_delete * 1000:.0f} ms"))

    unchanged = worker.metric("helpstream_events_handled_total", topic=settings.topic_content, outcome="unchanged")
    produce_json(settings.broker, settings.topic_content, [(content_id, article(2, "Resurrected"))])
    wait_until(
        lambda: (
            worker.metric("helpstream_events_handled_total", topic=settings.topic_content, outcome="unchanged")
            > unchanged
        ),
        30,
    )
    assert content_id not in [r["content_id"] for r in top()]


def test_republishing_the_whole_cms_export_embeds_nothing(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack

    def handled(outcome: str | None = None) -> float:
        labels = {"outcome": outcome} if outcome else {}
        return worker.metric("helpstream_events_handled_total", topic=settings.topic_content, **labels)

    calls, consumed, unchanged = worker.metric("helpstream_encoder_calls_total"), handled(), handled("unchanged")
    publish_demo_content(settings)
    wait_until(lambda: handled() >= consumed + demo_items(), 60)

    assert worker.metric("helpstream_encoder_calls_total") == calls
    assert handled("unchanged") == unchanged + demo_items()
    figures.append((f"encoder calls for a re-published CMS export of {demo_items()} items", "0"))


def test_malformed_events_go_to_the_dead_letter_topic_and_good_ones_still_flow(
    stack: tuple[Settings, WorkerProcess],
) -> None:
    settings, worker = stack
    bad_chats = [
        b"{not json",
        b"[1, 2, 3]",
        orjson.dumps({"chat_id": "bad-1", "created_at": now()}),
        orjson.dumps({"chat_id": 42, "text": "hi", "created_at": now()}),
        orjson.dumps({"chat_id": "bad-2", "text": "x" * 5000, "created_at": now()}),
        orjson.dumps({"chat_id": "bad-3", "text": "hi", "created_at": "yesterday"}),
        b"\xff\xfe binary",
    ]
    good = [chat(f"good-{i}", "my card still has not arrived") for i in range(5)]
    records: list[tuple[bytes | None, bytes]] = []
    for i, raw in enumerate(bad_chats):
        records.append((f"bad-{i}".encode(), raw))
        if i < len(good):
            records.append((good[i][0].encode(), orjson.dumps(good[i][1])))
    produce(settings.broker, settings.topic_chat, records)
    produce(settings.broker, settings.topic_content, [(b"x", b'{"content_id": "x", "op": "upsert", "version": 1}')])

    keys = {f"bad-{i}".encode() for i in range(len(bad_chats))} | {b"x"}
    letters = [
        DeadLetter.model_validate_json(m.value)
        for m in consume_keys(settings.broker, settings.topic_dead_letter, keys, 60).values()
    ]
    assert sorted(letter.value_b64 for letter in letters if letter.source_topic == settings.topic_chat) == sorted(
        bad_chats
    )
    assert all(letter.reason for letter in letters)
    content_letter = next(letter for letter in letters if letter.source_topic == settings.topic_content)
    assert "an upsert needs kind, title, body" in content_letter.reason
    reasons = " | ".join(letter.reason for letter in letters)
    for expected in (
        "not valid JSON",
        "expected a JSON object",
        "text: Field required",
        "chat_id: Input should be a valid string",
        "at most 4000 characters",
        "created_at",
    ):
        assert expected in reasons
    good_keys = {f"good-{i}".encode() for i in range(5)}
    recs = consume_keys(settings.broker, settings.topic_recommendations, good_keys, 60)
    assert {orjson.loads(m.value)["chat_id"] for m in recs.values()} == {f"good-{i}" for i in range(5)}
    assert worker.health()[0] == 200
    dead = worker.metric("helpstream_events_handled_total", topic=settings.topic_chat, outcome="dead_lettered")
    assert dead == len(bad_chats)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "q is required"),
        ("q=card&k=0", "k must be from 1 to 50"),
        ("q=card&k=many", "k must be an integer"),
        ("q=card&kind=faq", "kind must be one of"),
        ("q=" + "x" * 4001, "longer than 4000"),
    ],
)
def test_a_bad_search_request_gets_a_400_saying_why(
    stack: tuple[Settings, WorkerProcess], query: str, message: str
) -> None:
    status, body = get_json(f"{stack[1].url}/search?{query}")
    assert status == 400
    assert message in body["error"]


def test_a_restarted_worker_serves_the_same_results_with_zero_encoder_calls(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    # A stack of its own: stopping the shared worker would break the tests that run after this one.
    settings = make_settings()
    worker = workers.start_with_demo_content(settings, "before-restart")
    queries = ["I lost my card", "how long does a transfer take", "verify my identity"]
    before = {q: search(worker, q, kind="saved_response", k=5)[1]["results"] for q in queries}
    worker.stop()

    restarted = workers.start(settings, "restarted")
    ready_s = restarted.wait_ready(120)

    assert restarted.metric("helpstream_encoder_calls_total") == 0
    assert index_holds(restarted, demo_items())
    after = {q: search(restarted, q, kind="saved_response", k=5)[1]["results"] for q in queries}
    assert [[r["content_id"] for r in after[q]] for q in queries] == [
        [r["content_id"] for r in before[q]] for q in queries
    ]
    assert [[r["score"] for r in after[q]] for q in queries] == [
        [pytest.approx(r["score"], abs=1e-3) for r in before[q]] for q in queries
    ]
    figures.append(("restarted worker ready (Apache Kafka, index from changelog)", f"{ready_s:.1f} s"))
    figures.append(("encoder calls while rebuilding the index on restart", "0"))


def test_chats_sent_while_no_worker_runs_are_all_answered_by_the_next_one(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    # No chat was ever committed, and the new worker recovers its table before it consumes: the case where
    # aiokafka's prefetch used to move a partition past chats nobody had handled.
    settings = make_settings()
    workers.start_with_demo_content(settings, "before-backlog").stop()
    keys = [f"backlog-{i}" for i in range(40)]
    produce_json(settings.broker, settings.topic_chat, (chat(key, "my card has not arrived") for key in keys))

    ready_s = workers.start(settings, "after-backlog").wait_ready(120)
    answered = consume_keys(settings.broker, settings.topic_recommendations, (k.encode() for k in keys), 120)

    figures.append(("backlog of 40 chats sent while no worker ran: answered by the next worker", str(len(answered))))
    assert {key.decode() for key in answered} == set(keys)
    assert ready_s < 120

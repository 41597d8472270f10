"""The three patterns end to end on Apache Kafka and Redis: chat recommendations, CMS sync, help search."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import redis

from schemas import DeadLetter, Recommendation
from streams.publish import DEMO_CHATS, DEMO_CONTENT, read_chats
from streams.settings import Settings
from streams.worker_process import WorkerProcess, get_json
from tests.integration.clients import consume, produce, produce_json, search
from tests.integration.conftest import Workers
from tests.services import wait_until

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"
DEMO_ITEMS = 83


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chat(chat_id: str, text: str) -> tuple[str, dict[str, Any]]:
    return chat_id, {"chat_id": chat_id, "customer_id": "u-1", "text": text, "created_at": now()}


def publish_demo_content(settings: Settings) -> None:
    with DEMO_CONTENT.open("rb") as f:
        lines = [line for line in f if line.strip()]
    produce(
        settings.broker, settings.topic_content, ((orjson.loads(line)["content_id"].encode(), line) for line in lines)
    )


@pytest.fixture(scope="module")
def stack(make_settings: Callable[..., Settings], workers: Workers) -> Iterator[tuple[Settings, WorkerProcess]]:
    settings = make_settings()
    worker = workers.start(settings, "pipeline")
    worker.wait_ready(90)
    publish_demo_content(settings)
    wait_until(lambda: worker.health()[1]["index"]["items"] == DEMO_ITEMS, 240, 0.5)
    yield settings, worker


def test_every_chat_gets_one_contract_valid_recommendation(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    held_out = read_chats(DEMO_CHATS)
    intents = {f"c-{i}": c.intent for i, c in enumerate(held_out)}
    produce_json(settings.broker, settings.topic_chat, (chat(f"c-{i}", c.text) for i, c in enumerate(held_out)))

    messages = consume(settings.broker, settings.topic_recommendations, len(held_out), timeout_s=180)

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
    assert 0 < redis.Redis.from_url(settings.redis_url).ttl("helpstream:rec:c-7") <= settings.recommendation_ttl_s
    assert get_json(worker.url + "/recommendations/nope")[0] == 404


def test_an_edit_and_a_delete_show_in_search_within_a_second(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    query = "how much do you charge for things"
    assert search(worker, query)[1]["results"][0]["content_id"] == "help_fees"

    edit = {
        "content_id": "help_fees",
        "kind": "help_article",
        "op": "upsert",
        "version": 2,
        "title": "Our pricing, fees and limits",
        "body": "Every fee we charge and every limit of each plan.",
        "updated_at": now(),
    }
    produce_json(settings.broker, settings.topic_content, [("help_fees", edit)])
    seen_edit = wait_until(lambda: search(worker, query)[1]["results"][0]["title"] == edit["title"], 1.0, 0.02)

    delete = {"content_id": "help_fees", "op": "delete", "version": 3}
    produce_json(settings.broker, settings.topic_content, [("help_fees", delete)])
    seen_delete = wait_until(
        lambda: "help_fees" not in [r["content_id"] for r in search(worker, query, k=10)[1]["results"]], 1.0, 0.02
    )
    figures.append(("edit visible in /search after", f"{seen_edit * 1000:.0f} ms"))
    figures.append(("delete visible in /search after", f"{seen_delete * 1000:.0f} ms"))

    stale = {**edit, "version": 2}
    produce_json(settings.broker, settings.topic_content, [("help_fees", stale)])
    wait_until(lambda: worker.metric("helpstream_content_unchanged_total") >= 1, 5)
    assert "help_fees" not in [r["content_id"] for r in search(worker, query, k=10)[1]["results"]]


def test_republishing_the_whole_cms_export_embeds_nothing(
    stack: tuple[Settings, WorkerProcess], figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    calls = worker.metric("helpstream_encoder_calls_total")
    consumed = worker.metric("helpstream_events_in_total", topic=settings.topic_content)
    unchanged = worker.metric("helpstream_content_unchanged_total")

    publish_demo_content(settings)
    wait_until(lambda: worker.metric("helpstream_events_in_total", topic=settings.topic_content) >= consumed + 83, 30)

    assert worker.metric("helpstream_encoder_calls_total") == calls
    assert worker.metric("helpstream_content_unchanged_total") == unchanged + DEMO_ITEMS
    figures.append(("encoder calls for a re-published CMS export of 83 items", "0"))


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

    letters = [
        DeadLetter.model_validate_json(m.value) for m in consume(settings.broker, settings.topic_dead_letter, 8, 30)
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
    recs = consume(settings.broker, settings.topic_recommendations, 10_000, timeout_s=5)
    assert {f"good-{i}" for i in range(5)} <= {orjson.loads(m.value)["chat_id"] for m in recs}
    assert worker.health()[0] == 200
    assert worker.metric("helpstream_dead_letters_total", topic=settings.topic_chat) == len(bad_chats)


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
    stack: tuple[Settings, WorkerProcess], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    queries = ["I lost my card", "how long does a transfer take", "verify my identity"]
    before = {q: search(worker, q, kind="saved_response", k=5)[1]["results"] for q in queries}
    items = worker.health()[1]["index"]["items"]
    worker.stop()

    restarted = workers.start(settings, "restarted")
    ready_s = restarted.wait_ready(60)

    assert restarted.metric("helpstream_encoder_calls_total") == 0
    assert restarted.health()[1]["index"]["items"] == items
    after = {q: search(restarted, q, kind="saved_response", k=5)[1]["results"] for q in queries}
    assert after == before
    figures.append(("restarted worker ready (Apache Kafka, index from changelog)", f"{ready_s:.1f} s"))
    figures.append(("encoder calls while rebuilding the index on restart", "0"))

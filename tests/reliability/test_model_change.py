"""Changing the model on a live deployment, under a steady stream of chats: a candidate added, backfilled,
shadow-scored and judged by agents' feedback, promoted and rolled back with no restart; and the old path, a
rolling restart with another `HELPSTREAM_MODEL`, that once emptied the index while `/healthz` said ok."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import jsonschema
import orjson
import pytest
import redis

from agents.sampling import shadowed
from index.backends import model_id
from index.models import resolve
from schemas import ContentUpdated, Recommendation, RecommendationFeedback, encode
from streams.bench.stages import write_synthetic_table
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import read_chats
from streams.demo.datasets import demo_chats
from streams.demo.sparse import sparse_cms
from streams.local.ports import listener_ports
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from streams.topology.admin import ensure_topics
from streams.topology.topics import topic_specs
from tests.fixtures import READY_S, ExportedModel, Workers
from tests.integration.clients import demo_items, index_holds, now, produce
from tests.reliability.harness import Outcomes, Traffic, entry, helpstream, report
from tests.services import wait_until

RATE = 30  # chats per second, throughout
SHARE = 0.5  # of chats shadow-scored: enough feedback within a minute
# The demo's items with a few example queries each, as a real CMS has them: the candidate's backfill is what the
# test waits for longest, and it is the same path with a tenth of the texts.
QUERIES_PER_ITEM = 10
COVERED_S = 900
SCHEMA = json.loads((importlib.resources.files("schemas") / "json" / "recommendations.schema.json").read_text())


def unique_texts(content: list[ContentUpdated]) -> int:
    return len({text for item in content for text in item.texts()})


def labelled_chats() -> tuple[list[str], list[str]]:
    chats = read_chats(demo_chats())
    return [c.text for c in chats], [c.intent for c in chats]


def fresh_redis(url: str, db: int) -> str:
    """The session's Redis on a database of its own, emptied before each run: a run counts embedding-cache
    misses from zero."""
    return url.rsplit("/", 1)[0] + f"/{db}"


# The slowest test in CI, and slower still on a loaded AVX2-only machine: its own waits have ceilings.
@pytest.mark.timeout(1800)
def test_a_candidate_is_added_backfilled_shadow_scored_promoted_and_rolled_back_live_under_steady_chats(
    make_settings: Callable[..., Settings],
    redis_url: str,
    workers: Workers,
    exported_tuned_model: ExportedModel,
    runs: int,
    figures: list[tuple[str, str]],
) -> None:
    # `pytest --runs N` repeats it, each run on topics and a group of its own.
    for run in range(1, runs + 1):
        live_change(make_settings, fresh_redis(redis_url, 5), workers, exported_tuned_model, figures, run)


def live_change(
    make_settings: Callable[..., Settings],
    redis_url: str,
    workers: Workers,
    candidate_model: ExportedModel,
    figures: list[tuple[str, str]],
    run: int,
) -> None:
    redis.Redis.from_url(redis_url).flushdb()  # the embedding cache's misses are counted from zero
    settings = make_settings(shadow_share=SHARE, redis_url=redis_url)
    one = workers.start(settings, f"live-{run}-1")
    two = workers.start(settings.model_copy(update=listener_ports()), f"live-{run}-2")
    for worker in (one, two):
        worker.wait_ready(READY_S)
    pids = [w.process.pid for w in (one, two) if w.process is not None]
    content = sparse_cms(QUERIES_PER_ITEM, seed=run).content
    produce(settings.broker, settings.topic_content, ((item.content_id.encode(), encode(item)) for item in content))
    wait_until(lambda: index_holds(one, demo_items()) and index_holds(two, demo_items()), 240, 0.5)
    active = one.health()[1]["model"]["id"]
    texts, intents = labelled_chats()
    timeline: list[tuple[str, float]] = []

    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, "live", RATE, texts).start()
        started = time.monotonic()
        time.sleep(3)
        added = helpstream(settings, "model", "add", str(candidate_model.directory))
        assert added.returncode == 0, added.stderr[-2000:]
        candidate = next(m for m in report(settings)["models"] if m["role"] == "candidate")["model_id"]
        early = helpstream(settings, "model", "promote", candidate)
        assert early.returncode == 1 and "coverage" in early.stderr  # refused until it covers every item

        # The backfill embeds the table's texts at low priority, under these chats.
        covered = wait_until(lambda: entry(report(settings), candidate)["covered_everywhere"], COVERED_S, 1)
        timeline.append(("add → the candidate loaded and covering every item on both workers", covered))
        encoded = [w.metric("helpstream_model_content_encoded_total", model=candidate) for w in (one, two)]
        assert sum(encoded) == unique_texts(content) and min(encoded) == 0  # once per text, by the content owner only

        wait_until(lambda: entry(report(settings), candidate)["scored"] >= 40, 120, 1)
        before = entry(report(settings), candidate)
        assert before["top1_agreement"] is not None and before["chat_p99_ms"] is not None
        used = send_feedback(settings, outcomes, intents)
        wait_until(lambda: entry(report(settings), candidate)["paired_feedback"] >= 10, 120, 1)
        wait_until(lambda: _votes(entry(report(settings), candidate)) > 0, 120, 1)
        after = entry(report(settings), candidate)
        assert after["feedback"] > before["feedback"] and after["mrr"] is not None
        assert after["interleaved"] > 0 and _votes(after) > 0
        judged = after

        promote = helpstream(settings, "model", "promote", candidate, "--wait", "60")
        if promote.returncode != 0:  # it may trail the active model on quality or, on a slow CPU, latency: force
            refused = promote.stdout + promote.stderr
            assert "pass  coverage" in promote.stdout and "not promoted" in promote.stderr, refused
            assert "coverage" not in promote.stderr.split("not promoted:", 1)[1], refused
            promote = helpstream(
                settings, "model", "promote", candidate, "--force", "test: tuned on 6 items", "--wait", "60"
            )
        assert promote.returncode == 0, promote.stdout + promote.stderr
        timeline.append(("promote → every worker answering with it", _followed_s(promote.stdout)))
        time.sleep(4)
        rollback = helpstream(settings, "model", "rollback", "--wait", "60")
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        timeline.append(("rollback → every worker answering with the old model", _followed_s(rollback.stdout)))
        time.sleep(4)
        sent = traffic.stop()
        outcomes.wait_settled(sent, 120)
        account = outcomes.account("live model change", sent)
        recs = outcomes.values()

    assert (account.lost, account.dead_lettered) == (0, 0), account.row()
    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    interleaved = 0
    for partition, _, value in recs:
        jsonschema.validate(orjson.loads(value), SCHEMA)
        rec = Recommendation.model_validate_json(value)
        assert rec.items and rec.index.items == rec.index.table_items == demo_items(), rec
        if rec.candidate is not None:  # interleaved: the top-k, no item twice, each credited to one of the two
            interleaved += 1
            assert rec.candidate == candidate and rec.model == active, rec
            assert len(rec.items) == len({i.content_id for i in rec.items}) == settings.top_k, rec
            assert {i.model for i in rec.items} <= {active, candidate, None}, rec
        by_partition[partition].append((int(rec.chat_id.rsplit("-", 1)[1]), rec.model))
    assert interleaved > 0
    for partition, answered in by_partition.items():
        models = [model for _, model in sorted(answered)]
        switches = [(a, b) for a, b in pairwise(models) if a != b]
        assert switches == [(active, candidate), (candidate, active)], (partition, switches)
    assert [w.process.pid for w in (one, two) if w.process is not None and w.process.poll() is None] == pids
    history = [c["action"] for c in report(settings)["history"]]
    assert history[-3:] == ["add", "promote", "rollback"]
    label = "model change" if run == 1 else f"model change (run {run})"
    figures.append(
        (
            f"{label}: chats",
            f"{account.sent} sent at {RATE}/s, 0 lost, 0 empty, {account.duplicates} duplicates, {used} feedback",
        )
    )
    figures.append((f"{label}: candidate", f"{candidate} after {time.monotonic() - started:.0f} s of traffic"))
    figures.append((f"{label}: chats shown an interleaving", f"{interleaved} of {account.sent}"))
    for what, seconds in timeline:
        figures.append((f"{label}: {what}", f"{seconds:.1f} s"))
    shown = entry(report(settings), candidate)
    figures.append(
        (
            f"{label}: candidate's live figures",
            f"scored {shown['scored']}, top-1 agreement {shown['top1_agreement']}, top-3 overlap "
            f"{shown['top3_overlap']}, chat p50/p99 {shown['chat_p50_ms']}/{shown['chat_p99_ms']} ms, "
            f"MRR {shown['paired_mrr']} vs active {shown['paired_active_mrr']} on {shown['paired_feedback']} used; "
            f"before the promote, interleaved {judged['interleaved']}: its pick used {judged['interleave_wins']}, "
            f"the active model's {judged['interleave_losses']}, no vote {judged['interleave_no_vote']}",
        )
    )
    # Retire: refused for the active model; the candidate is released everywhere and its vectors dropped.
    refused = helpstream(settings, "model", "retire", active)
    assert refused.returncode == 1 and "is the active model" in refused.stderr
    retired = helpstream(settings, "model", "retire", candidate)
    assert retired.returncode == 0, retired.stderr
    wait_until(lambda: all(candidate not in w.health()[1]["models"] for w in (one, two)), 60, 0.5)
    dropped = f"dropped the vectors of retired {candidate} from {demo_items()} rows"
    wait_until(lambda: any(dropped in w.log_path.read_text() for w in (one, two)), 60, 0.5)
    for worker in (one, two):
        worker.stop()


def send_feedback(settings: Settings, outcomes: Outcomes, intents: list[str]) -> int:
    """What agents would do: on shadow-scored and interleaved chats, use the recommended response of the chat's
    true intent when it is shown."""
    events = []
    for _, _, value in outcomes.values():
        rec = Recommendation.model_validate_json(value)
        if not shadowed(rec.chat_id, SHARE) and rec.candidate is None:
            continue
        intent = intents[int(rec.chat_id.rsplit("-", 1)[1]) % len(intents)]
        ranked = [item.content_id for item in rec.items]
        if intent in ranked:
            feedback = RecommendationFeedback.model_validate(
                {
                    "chat_id": rec.chat_id,
                    "content_id": intent,
                    "rank": ranked.index(intent) + 1,
                    "action": "used",
                    "at": now(),
                }
            )
            events.append((rec.chat_id.encode(), encode(feedback)))
    produce(settings.broker, settings.topic_feedback, events)
    return len(events)


def _votes(shown: dict[str, Any]) -> int:
    return int(shown["interleave_wins"]) + int(shown["interleave_losses"]) + int(shown["interleave_no_vote"])


def _followed_s(stdout: str) -> float:
    line = next(line for line in stdout.splitlines() if line.startswith("every worker"))
    return float(line.rsplit(" in ", 1)[1].removesuffix(" s"))


def test_a_rolling_restart_with_another_model_setting_follows_the_registry_and_never_serves_an_empty_index(
    make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    settings = make_settings()
    first = workers.start_with_demo_content(settings, "rolling-1")
    second_settings = settings.model_copy(update=listener_ports())
    second = workers.start(second_settings, "rolling-2")
    second.wait_ready(READY_S)
    wait_until(lambda: index_holds(second, demo_items()), 120, 0.5)
    changed = {"model": "minilm-l3"}  # what a team does today: change the setting, restart one at a time
    healthy_but_empty: list[Any] = []
    with Outcomes(settings) as outcomes:
        traffic = Traffic(settings, "rolling", RATE).start()
        restarted = []
        for worker, name in ((first, "rolling-1b"), (second, "rolling-2b")):
            worker.stop()
            again = workers.start(worker.settings.model_copy(update=changed), name)
            watch_health(again, healthy_but_empty)
            wait_until(lambda again=again: index_holds(again, demo_items()), 120, 0.5)  # type: ignore[misc]
            restarted.append(again)
        time.sleep(3)
        sent = traffic.stop()
        outcomes.wait_settled(sent, 120)
        account = outcomes.account("rolling restart with another HELPSTREAM_MODEL", sent)
        recs = [Recommendation.model_validate_json(v) for _, _, v in outcomes.values()]
    assert healthy_but_empty == []
    assert (account.lost, account.dead_lettered) == (0, 0), account.row()
    seeded = model_id(resolve(settings.model), settings.encoder)  # the first setting's model, seeded in the registry
    assert all(rec.items for rec in recs) and {rec.model for rec in recs} == {seeded}
    for worker in restarted:
        assert worker.health()[1]["model"]["id"] == seeded
        assert "following the registry" in worker.log_path.read_text()
    figures.append(("model change: rolling restart with HELPSTREAM_MODEL=minilm-l3", account.row()[1]))


def watch_health(worker: WorkerProcess, healthy_but_empty: list[Any]) -> None:
    """Poll `/healthz` from the start until the worker is ready: a 200 over an index short of the table is noted."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        status, body = worker.health()
        if status == 200:
            if body["index"]["items"] < demo_items():
                healthy_but_empty.append(body)
            return
        time.sleep(0.1)
    raise TimeoutError(f"{worker.log_path} not ready")


def test_a_worker_whose_model_lacks_the_tables_items_says_so_and_is_not_ready(
    make_settings: Callable[..., Settings], workers: Workers
) -> None:
    # Rows a worker of another model wrote before texts were kept (an upgrade): nothing here can embed them.
    settings = make_settings()
    asyncio.run(ensure_topics(KafkaConnection.of(settings), topic_specs(settings)))
    write_synthetic_table(settings, "another-model/onnx-fp32", 384, vectors=200, per_item=10)
    worker = workers.start(settings, "other-model-rows")
    reason = "the active model's index holds 0 of the table's 20 items"
    wait_until(lambda: reason in str((worker.health()[1] or {}).get("reasons")), READY_S, 0.5)
    status, body = worker.health()
    assert status == 503 and body["status"] == "starting"
    (model,) = body["models"].values()
    assert (model["items"], model["table_items"], model["lag_items"], model["items_without_texts"]) == (0, 20, 20, 20)

"""Two workers in one group: the chat partitions are split between them and both serve the whole index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from streams.local.ports import listener_ports
from streams.local.worker import WorkerProcess
from streams.settings import Settings
from tests.fixtures import Workers
from tests.integration.clients import (
    chat,
    consume_keys,
    demo_items,
    index_holds,
    produce_json,
    publish_demo_content,
    search,
)
from tests.services import wait_until

CHATS = 200


def test_two_workers_split_the_chats_and_both_serve_search(
    make_settings: Callable[..., Settings],
    workers: Workers,
    tmp_path: Path,
    runs: int,
    figures: list[tuple[str, str]],
) -> None:
    # Started at the same moment on a fresh group: a joining worker once crashed here (`pytest --runs N` repeats it).
    for run in range(1, runs + 1):
        # A data dir of their own: both workers export the ONNX model at the same time, and must not collide.
        first = make_settings(chat_partitions=4, data_dir=tmp_path / f"run{run}")
        second = first.model_copy(update=listener_ports())
        a, b = workers.start(first, f"a{run}"), workers.start(second, f"b{run}")
        by_worker = split_the_chats_and_both_serve_search(first, a, b)
        label = f" (run {run} of {runs})" if runs > 1 else ""
        figures.append(
            (f"chats handled by worker a / b (4 partitions){label}", f"{by_worker[0]:.0f} / {by_worker[1]:.0f}")
        )
        for worker in (a, b):
            worker.stop()


def split_the_chats_and_both_serve_search(first: Settings, a: WorkerProcess, b: WorkerProcess) -> list[float]:
    a.wait_ready(90)
    b.wait_ready(90)
    publish_demo_content(first)
    for worker in (a, b):
        wait_until(lambda w=worker: index_holds(w, demo_items()), 240, 0.5)

    produce_json(
        first.broker, first.topic_chat, (chat(f"c-{i}", "I still have not received my card") for i in range(CHATS))
    )
    keys = {f"c-{i}".encode() for i in range(CHATS)}
    recs = consume_keys(first.broker, first.topic_recommendations, keys, timeout_s=180)

    assert {orjson.loads(m.value)["chat_id"] for m in recs.values()} == {f"c-{i}" for i in range(CHATS)}

    def handled() -> list[float]:
        return [w.metric("helpstream_events_handled_total", topic=first.topic_chat) for w in (a, b)]

    # A worker counts a batch just after its recommendations are delivered: wait for the counters to catch up.
    wait_until(lambda: sum(handled()) >= CHATS, 30, 0.2)
    assert all(n > 0 for n in handled()), handled()
    for q in ("card not arrived", "exchange rate", "close my account"):
        assert search(a, q, kind="saved_response")[1]["results"] == search(b, q, kind="saved_response")[1]["results"]
    assert all(w.process is not None and w.process.poll() is None for w in (a, b)), "a worker exited"
    return handled()

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.search_batcher import SearchBatcher
from index.vector_index import Hit, VectorIndex
from tests.unit.index.fakes import assert_same_hits, until, vector


def catalogue() -> VectorIndex:
    index = VectorIndex(8)
    for i in range(6):
        kind = "saved_response" if i % 2 else "help_article"
        index.upsert(f"item-{i}", kind, f"Item {i}", np.stack([vector(f"item-{i}-{j}") for j in range(3)]))
    return index


def queries(*texts: str) -> np.ndarray:
    return np.stack([vector(t) for t in texts])


async def test_searches_that_queue_behind_a_busy_index_share_one_call_and_get_their_own_answers(
    executor: ThreadPoolExecutor,
) -> None:
    index = catalogue()
    calls: list[tuple[int, int, str]] = []
    release = threading.Event()

    def search(rows: np.ndarray, k: int, kind: str) -> list[list[Hit]]:
        calls.append((len(rows), k, kind))
        release.wait(5)
        return index.search(rows, k, kind)

    batcher = SearchBatcher(search, executor)
    first = asyncio.ensure_future(batcher.search(queries("a"), 2, "saved_response"))
    await until(lambda: len(calls) == 1)  # the index thread is now busy with the first search
    waiting = [
        asyncio.ensure_future(batcher.search(queries("b", "c"), 1, "saved_response")),
        asyncio.ensure_future(batcher.search(queries("d"), 3, "saved_response")),
        asyncio.ensure_future(batcher.search(queries("e"), 2, "help_article")),
    ]
    for _ in range(5):  # each waiting search is queued
        await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(first, *waiting)
    await batcher.close()

    assert calls == [(1, 2, "saved_response"), (3, 3, "saved_response"), (1, 2, "help_article")]
    expected = [
        index.search(queries("a"), 2, "saved_response"),
        index.search(queries("b", "c"), 1, "saved_response"),
        index.search(queries("d"), 3, "saved_response"),
        index.search(queries("e"), 2, "help_article"),
    ]
    for got, want in zip(answers, expected, strict=True):
        assert_same_hits(got, want)


async def test_a_failing_search_fails_its_callers_and_the_next_search_still_runs(executor: ThreadPoolExecutor) -> None:
    index = catalogue()
    broken = [True]

    def search(rows: np.ndarray, k: int, kind: str) -> list[list[Hit]]:
        if broken and broken.pop():
            raise RuntimeError("index unavailable")
        return index.search(rows, k, kind)

    batcher = SearchBatcher(search, executor)
    with pytest.raises(RuntimeError, match="index unavailable"):
        await batcher.search(queries("a"), 2, "saved_response")
    assert_same_hits(
        await batcher.search(queries("a"), 2, "saved_response"), index.search(queries("a"), 2, "saved_response")
    )
    await batcher.close()

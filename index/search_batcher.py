"""Merges searches that arrive while the index thread is busy into one FAISS call per kind.

A flat index reads every stored vector once per call whatever the number of queries, so one call with
8 queries costs about what 3 lone queries cost (BLAS from 4 queries, see `index.vector_index`). Chat
batches and `/search` requests that queue behind a search therefore share the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from index.encoder import Vectors
from index.vector_index import Hit

logger = logging.getLogger(__name__)

SearchFn = Callable[[Vectors, int, str], list[list[Hit]]]


@dataclass
class _Search:
    queries: Vectors
    k: int
    kind: str
    future: asyncio.Future[list[list[Hit]]] = field(repr=False)


class SearchBatcher:
    def __init__(self, search: SearchFn, executor: Executor) -> None:
        self._search = search
        self._executor = executor
        self._pending: list[_Search] = []
        self._queued = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._taken: list[_Search] = []
        self._closed = False

    async def search(self, queries: Vectors, k: int, kind: str) -> list[list[Hit]]:
        """For each query row, up to `k` distinct items of `kind`, best first."""
        if len(queries) == 0:
            return []
        if self._closed:
            raise RuntimeError("the index was released")
        loop = asyncio.get_running_loop()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="search-batcher")
        request = _Search(queries, k, kind, loop.create_future())
        self._pending.append(request)
        self._queued.set()
        return await request.future

    async def close(self) -> None:
        """Stop, and fail the searches still waiting, so no caller waits forever."""
        self._closed = True
        taken = list(self._taken)
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for request in [*taken, *self._pending]:
            if not request.future.done():
                request.future.set_exception(RuntimeError("the index was released"))
        self._pending, self._taken = [], []

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._queued.wait()
            self._queued.clear()
            taken, self._pending = self._pending, []
            self._taken = taken
            try:
                results = await loop.run_in_executor(self._executor, self._search_all, taken)
            except Exception as exc:
                logger.exception("a search of %s requests failed", len(taken))
                for request in taken:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            for request, hits in zip(taken, results, strict=True):
                if not request.future.done():
                    request.future.set_result(hits)

    def _search_all(self, requests: list[_Search]) -> list[list[list[Hit]]]:
        """On the index thread: one search per kind over every request's rows, cut back to each one's `k`
        (the first `k` of the distinct items ranked by score are the `k` best)."""
        by_kind: dict[str, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            by_kind[request.kind].append(i)
        out: list[list[list[Hit]]] = [[] for _ in requests]
        for kind, members in by_kind.items():
            stacked = np.vstack([requests[i].queries for i in members])
            hits = self._search(stacked, max(requests[i].k for i in members), kind)
            row = 0
            for i in members:
                rows = len(requests[i].queries)
                out[i] = [found[: requests[i].k] for found in hits[row : row + rows]]
                row += rows
        return out

"""A deterministic stand-in for the model: pure logic tests of the batcher, cache and index."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable

import numpy as np
import pytest

from index.encoder import Vectors
from index.vector_index import Hit


class FakeEncoder:
    model_id = "fake"
    dimension = 8

    def __init__(self, delay_s: float = 0.0, parallel: int = 1) -> None:
        self.parallel = parallel
        self.calls = 0
        self.sentences = 0
        self.batches: list[list[str]] = []
        self.most_at_once = 0
        self._running = 0
        self._lock = threading.Lock()
        self._delay = threading.Event()
        self._delay_s = delay_s
        self._gate = threading.Event()
        self._gate.set()

    def hold(self) -> None:
        """Model calls block once started (and counted) until `release()`: the encoder is busy for as long as a
        test needs, without a sleep."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def encode(self, texts: list[str]) -> Vectors:
        with self._lock:
            self.calls += 1
            self.sentences += len(texts)
            self.batches.append(list(texts))
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        self._gate.wait(30)
        if self._delay_s:
            self._delay.wait(self._delay_s)
        with self._lock:
            self._running -= 1
        return np.stack([vector(text, self.dimension) for text in texts])


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    """Waits for `condition` (set by an encoder thread) without assuming how long it takes."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.001)


def vector(text: str, dimension: int = 8) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    v = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return v / np.linalg.norm(v)


def assert_same_hits(got: list[list[Hit]], want: list[list[Hit]]) -> None:
    """Ids, kinds, titles and order exactly; scores within float32 rounding (BLAS and the plain loop sum in
    different orders, and CPUs differ in the last bit)."""
    assert [[(h.content_id, h.kind, h.title) for h in hits] for hits in got] == [
        [(h.content_id, h.kind, h.title) for h in hits] for hits in want
    ]
    assert [[h.score for h in hits] for hits in got] == [
        [pytest.approx(h.score, abs=1e-5) for h in hits] for hits in want
    ]

"""The moments of an answer on a fake clock: its wait for a model call, the call, and the search are told apart."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from index.batcher import Lane
from index.content_index import ContentIndex
from index.encoder import Vectors
from index.kv import MemoryKeyValue
from index.serving import ServingModel
from tests.unit.index.fakes import FakeEncoder, until

T0 = 1_800_000_000.0
CALL_S = 0.02


class FakeClock:
    def __init__(self) -> None:
        self.now = T0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class ClockedEncoder(FakeEncoder):
    """Each model call takes `CALL_S` of fake time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock

    def encode(self, texts: list[str]) -> Vectors:
        vectors = super().encode(texts)
        self._clock.advance(CALL_S)
        return vectors


async def test_an_answer_behind_a_busy_model_counts_the_wait_before_its_call_not_in_it() -> None:
    clock = FakeClock()
    encoder = ClockedEncoder(clock)
    with ThreadPoolExecutor(1) as index_thread:
        model = ServingModel(
            encoder, ContentIndex("fake", 8), index_thread, MemoryKeyValue(), max_batch=8, max_wait_s=0, clock=clock
        )
        encoder.hold()
        first = asyncio.ensure_future(model.answer(["first"], 3, "saved_response", Lane.CHAT))
        await until(lambda: encoder.calls == 1)
        second = asyncio.ensure_future(model.answer(["second"], 3, "saved_response", Lane.CHAT))
        await asyncio.sleep(0.01)
        clock.advance(0.1)  # the first call holds the model this long
        encoder.release()
        answers = await asyncio.gather(first, second)
        await model.close()

    alone, behind = (answer.moments for answer in answers)
    assert alone.encode_started == pytest.approx(alone.asked)
    assert alone.encoded - alone.encode_started == pytest.approx(0.1 + CALL_S)
    assert behind.asked == pytest.approx(T0)
    assert behind.encode_started == pytest.approx(T0 + 0.1 + CALL_S)  # waited for the first call to end
    assert behind.encoded - behind.encode_started == pytest.approx(CALL_S)
    assert answers[1].encode_seconds == pytest.approx(CALL_S)
    assert behind.searched >= behind.encoded  # the search is after the call, on the same clock

"""Each boundary of a chat's timeline, on a fake clock: a stage is the time between two instants, the instants are
read where the stage ends, and the stages add up to the recommendation's latency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from agents.chat import ChatHandler
from agents.dead_letters import DeadLetters
from agents.masking import Masker
from agents.timeline import Stamp, chat_timings, search_timings, stamp, stamp_of
from index.batcher import Lane
from index.serving import Answer, Moments
from schemas import Recommendation
from tests.unit.agents.fakes import FakeMetrics, FakeSearcher, FakeShadow, FakeSink, FakeStore, event

T0 = 1_800_000_000.0  # the chat's created_at, as wall-clock seconds


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_each_stage_is_the_time_between_its_two_instants_and_they_add_up() -> None:
    moments = Moments(asked=T0 + 0.012, encode_started=T0 + 0.015, encoded=T0 + 0.023, searched=T0 + 0.024)
    timings = chat_timings(
        datetime.fromtimestamp(T0, UTC), Stamp(T0 + 0.004, lag_s=1.0), T0 + 0.011, moments, T0 + 0.0245, 1.003
    )
    assert timings.broker_ms == pytest.approx(4.0)  # created → fetched
    assert timings.queue_ms == pytest.approx(7.0)  # fetched → taken into a batch
    assert timings.batch_wait_ms == pytest.approx(4.0)  # taken → its model call started
    assert timings.encode_ms == pytest.approx(8.0)
    assert timings.search_ms == pytest.approx(1.0)
    assert timings.build_ms == pytest.approx(0.5)
    assert timings.loop_lag_ms == pytest.approx(3.0)  # lag counted while it was in the worker, not before
    stages = timings.model_dump(exclude={"loop_lag_ms"}).values()
    assert sum(stages) == pytest.approx(24.5, abs=0.05)


def test_an_event_not_stamped_by_the_consumer_counts_its_time_before_the_batch_as_broker_time() -> None:
    moments = Moments(T0 + 0.01, T0 + 0.01, T0 + 0.02, T0 + 0.02)
    timings = chat_timings(datetime.fromtimestamp(T0, UTC), None, T0 + 0.01, moments, T0 + 0.02, 5.0)
    assert (timings.broker_ms, timings.queue_ms, timings.loop_lag_ms) == (pytest.approx(10.0), 0.0, 0.0)


def test_a_clock_behind_the_chat_platform_gives_zero_not_a_negative_stage() -> None:
    moments = Moments(T0, T0, T0 + 0.001, T0 + 0.001)
    timings = chat_timings(datetime.fromtimestamp(T0 + 0.5, UTC), Stamp(T0, 0.0), T0, moments, T0 + 0.001, 0.0)
    assert timings.broker_ms == 0.0


def test_the_consumer_stamps_each_message_with_its_fetch_and_the_loop_lag_so_far() -> None:
    from streams.consumer import SafeCommitConsumer

    consumer: Any = object.__new__(SafeCommitConsumer)
    consumer.app = SimpleNamespace(consumer_generation_id=1, loop_lag=SimpleNamespace(total_s=0.25))
    consumer.fetched_at = T0 + 0.003
    record = SimpleNamespace(
        topic="chat.started",
        partition=0,
        offset=5,
        timestamp=int(T0 * 1000),
        timestamp_type=0,
        headers=[],
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
    )
    message = consumer._to_message(("chat.started", 0), record)
    assert stamp_of(message) == Stamp(T0 + 0.003, 0.25)


def test_search_stages_run_from_the_request_to_the_response() -> None:
    moments = Moments(T0 + 0.001, T0 + 0.002, T0 + 0.010, T0 + 0.011)
    timings = search_timings(T0, moments, T0 + 0.0115)
    assert timings.model_dump() == pytest.approx(
        {"batch_wait_ms": 2.0, "encode_ms": 8.0, "search_ms": 1.0, "build_ms": 0.5}, abs=1e-6
    )


class SlowSink(FakeSink):
    """Delivers each message `ack_s` of fake time after it was sent: the broker's ack."""

    def __init__(self, clock: FakeClock, ack_s: float) -> None:
        super().__init__()
        self._clock, self._ack_s = clock, ack_s

    async def send(self, **kwargs: Any) -> Awaitable[Any]:
        delivery = await super().send(**kwargs)

        async def acked() -> Any:
            await asyncio.sleep(0)
            self._clock.advance(self._ack_s)
            return await delivery

        return asyncio.ensure_future(acked())


class ClockedSearcher(FakeSearcher):
    """Answers with the given moments, and returns at `done` of fake time."""

    def __init__(self, clock: FakeClock, moments: Moments, done: float) -> None:
        super().__init__(["card_arrival", "lost_card"])
        self.moments, self._clock, self._done = moments, clock, done

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer:
        answer = await super().query(texts, k, kind, lane)
        self._clock.now = self._done
        return answer


def handler(clock: FakeClock, searcher: FakeSearcher, sink: FakeSink, *, timings: bool) -> tuple[ChatHandler, Any]:
    metrics = FakeMetrics()
    lag = SimpleNamespace(total_s=0.0)
    handle = ChatHandler(
        topic="chat.started",
        searcher=searcher,
        recommendations=sink,
        dead_letters=DeadLetters(FakeSink(), metrics),
        store=FakeStore(),
        metrics=metrics,
        shadow=FakeShadow(),
        masker=Masker(embed_masked=True),
        top_k=2,
        timings=timings,
        loop_lag=lambda: lag.total_s,
        clock=clock,
    )
    return handle, metrics


async def test_the_chat_agent_reads_taken_and_built_on_its_clock_and_times_the_publish_to_the_ack() -> None:
    clock = FakeClock(T0 + 0.050)  # the batch is taken 50 ms after the chat was created
    searcher = ClockedSearcher(clock, Moments(T0 + 0.051, T0 + 0.053, T0 + 0.060, T0 + 0.061), done=T0 + 0.062)
    sink = SlowSink(clock, ack_s=0.004)
    handle, metrics = handler(clock, searcher, sink, timings=True)
    created = datetime.fromtimestamp(T0, UTC).isoformat()
    message = event(orjson.dumps({"chat_id": "c-1", "text": "my card", "created_at": created}))
    stamp(message.message, T0 + 0.030, 0.0)

    await handle([message])

    rec = Recommendation.model_validate_json(sink.sent[0].value or b"")
    assert rec.timings is not None
    assert rec.timings.broker_ms == pytest.approx(30.0)
    assert rec.timings.queue_ms == pytest.approx(20.0)  # fetched → the handler took the batch
    assert rec.timings.batch_wait_ms == pytest.approx(3.0)  # taken → the model call started
    assert rec.timings.build_ms == pytest.approx(1.0)
    assert rec.latency_ms == pytest.approx(62.0, abs=0.05)
    assert sum(rec.timings.model_dump(exclude={"loop_lag_ms"}).values()) == pytest.approx(rec.latency_ms, abs=0.1)
    [(model, observed, publish_s)] = metrics.stages
    assert model == "fake-model" and observed == rec.timings
    assert publish_s == pytest.approx(0.004, abs=1e-6)  # produce → the broker's ack


async def test_timings_stay_off_the_recommendation_unless_asked_for_but_the_metrics_get_them() -> None:
    clock = FakeClock(T0 + 0.010)
    handle, metrics = handler(clock, FakeSearcher(["card_arrival"]), sink := FakeSink(), timings=False)
    created = datetime.fromtimestamp(T0, UTC).isoformat()
    await handle([event(orjson.dumps({"chat_id": "c-1", "text": "my card", "created_at": created}))])
    assert orjson.loads(sink.sent[0].value or b"")["timings"] is None
    assert len(metrics.stages) == 1

"""Where the p50 and the p99 go: the stages of the chats around each quantile, which add up to it."""

from __future__ import annotations

import pytest

from schemas import ChatTimings
from streams.bench.breakdown import STAGES, Sample, breakdown, busy_split, request_split


def sample(encode_ms: float, queue_ms: float, delivery_ms: float = 2.0) -> Sample:
    timings = ChatTimings(
        broker_ms=1.0,
        queue_ms=queue_ms,
        batch_wait_ms=0.5,
        encode_ms=encode_ms,
        search_ms=0.4,
        build_ms=0.1,
        loop_lag_ms=0.3,
    )
    total = 1.0 + queue_ms + 0.5 + encode_ms + 0.4 + 0.1 + delivery_ms
    return Sample(total, timings, delivery_ms)


def test_the_p50_is_the_typical_chats_and_the_p99_the_slow_ones() -> None:
    # 196 chats held up by little but the model, and 2% that sat in the queue for 200 ms.
    samples = [sample(encode_ms=5.0, queue_ms=1.0) for _ in range(196)] + [sample(5.0, 200.0) for _ in range(4)]
    split = breakdown(samples)
    assert split["p50"]["queue_ms"] == pytest.approx(1.0)
    assert split["p50"]["model_share"] == pytest.approx(0.5)  # 5 of 10 ms
    assert split["p99"]["queue_ms"] == pytest.approx(200.0)
    for figures in split.values():  # the stages of a bar add up to its total
        assert sum(figures[f"{stage}_ms"] for stage in STAGES) == pytest.approx(figures["total_ms"], abs=0.02)
        assert figures["loop_lag_ms"] == pytest.approx(0.3)


def test_one_chat_is_its_own_p50_and_p99_and_none_gives_nothing() -> None:
    split = breakdown([sample(5.0, 1.0)])
    assert split["p50"] == split["p99"] and split["p50"]["chats"] == 1
    assert breakdown([]) == {}


def test_a_burst_is_the_models_when_its_threads_were_busy() -> None:
    busy = busy_split(wall_s=10.0, encode_s=18.0, parallel=2, items=1000)  # two threads, 90% busy
    assert busy["model_share"] == pytest.approx(0.9)
    assert busy["total_ms"] == pytest.approx(10.0) and busy["encode_ms"] == pytest.approx(9.0)
    idle = busy_split(wall_s=10.0, encode_s=4.0, parallel=2, items=1000)
    assert idle["model_share"] == pytest.approx(0.2) and idle["pipeline_ms"] == pytest.approx(8.0)


def test_a_search_counts_the_time_outside_the_view_as_http() -> None:
    timings = {"batch_wait_ms": 1.0, "encode_ms": 4.0, "search_ms": 0.5, "build_ms": 0.5}
    assert request_split([], 0.45, 0.55) == {}
    split = request_split([(10.0, timings)] * 10, 0.45, 0.55)
    assert split["http_ms"] == pytest.approx(4.0)
    assert split["model_share"] == pytest.approx(0.4)

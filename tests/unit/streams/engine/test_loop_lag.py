"""The loop-lag probe: a timer woken late counts the lateness, and a blocked loop is noticed."""

from __future__ import annotations

import asyncio
import time

import pytest

from streams.engine.loop_lag import LoopLag


def test_a_late_wake_up_counts_its_lateness_beyond_the_timers_resolution_and_an_early_one_nothing() -> None:
    seen: list[float] = []
    lag = LoopLag(observe=seen.append)
    assert lag.woke(due=10.0, now=10.004) == pytest.approx(0.003)  # epoll rounds a sleep up to 1 ms
    assert lag.woke(due=11.0, now=11.0008) == 0.0
    assert lag.woke(due=12.0, now=11.999) == 0.0
    assert lag.total_s == pytest.approx(0.003)
    assert seen == [pytest.approx(0.003), 0.0, 0.0]


async def test_a_blocked_event_loop_shows_in_the_total() -> None:
    lag = LoopLag(interval_s=0.005)
    await lag.start()
    try:
        await asyncio.sleep(0.02)
        before = lag.total_s
        time.sleep(0.1)  # a callback that holds the loop
        await asyncio.sleep(0.02)
        assert lag.total_s - before >= 0.08
    finally:
        await lag.stop()

from __future__ import annotations

from streams.web.limits import RateLimiter, Slots, TimeBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_its_rate_and_is_told_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.wait_s("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait_s("a") == 0.5
    clock.now = 1.0  # waited as told, and then some
    assert limiter.wait_s("a") == 0
    assert limiter.wait_s("a") > 0


def test_a_client_that_keeps_asking_stays_refused_until_it_slows_down() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    refused = 0
    for step in range(100):  # 100 requests a second, for a second
        clock.now = step / 100
        refused += limiter.wait_s("a") > 0
    assert refused >= 90  # only its burst and about its rate got through
    clock.now = 1.0 + 1.0  # a second of quiet pays the debt back
    assert limiter.wait_s("a") == 0


def test_clients_are_limited_apart() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.wait_s("a") == 0
    assert limiter.wait_s("a") > 0
    assert limiter.wait_s("b") == 0


def test_slots_refuse_at_once_when_full_and_free_up() -> None:
    slots = Slots(2)
    assert slots.take() and slots.take()
    assert not slots.take()
    slots.give_back()
    assert slots.take()


def test_the_model_time_budget_admits_searches_while_it_lasts_and_refills_at_its_share() -> None:
    clock = Clock()
    budget = TimeBudget(per_second=0.2, burst_s=0.2, clock=clock)
    admitted = 0
    for step in range(1000):  # a search every millisecond for a second, each costing 10 ms of model time
        clock.now = step / 1000
        if budget.wait_s() == 0:
            admitted += 1
            budget.spend(0.01)
    assert 38 <= admitted <= 42  # its burst (0.2 s) and a second's share (0.2 s), in 10 ms searches
    assert budget.wait_s() > 0

from __future__ import annotations

from streams.web.limits import RateLimiter, Slots


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


def test_a_bucket_shared_by_all_clients_keeps_its_rate_under_a_flood() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=5, debt=False, clock=clock)
    admitted = 0
    for step in range(1000):  # 1000 requests a second, for a second
        clock.now = step / 1000
        admitted += limiter.wait_s("*") == 0
    assert 14 <= admitted <= 16  # its burst and its rate, however many asked

"""What keeps the public search from hurting chats: a per-client rate limit (a token bucket per address), a budget
of model time for all clients together, and a bound on the searches waiting for the model at once. Each says at
once whether a search may go and how long to wait otherwise, never queues."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Addresses remembered at once: past that the least recently seen is forgotten (it starts again with a full bucket).
MAX_CLIENTS = 10_000


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait_s(self, client: str) -> float:
        """0 and a request taken from `client`'s bucket, or the seconds until it may ask again. A refused request
        costs too (down to one burst of debt): a client that keeps asking stays refused until it slows down."""
        now = self._clock()
        tokens, then = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate) - 1
        wait = 0.0 if tokens >= 0 else -tokens / self._rate
        self._buckets[client] = (max(tokens, -self._burst), now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


class TimeBudget:
    """Seconds of model time, refilled at `per_second` up to `burst_s`: a search goes while the budget is not
    overspent, and spends what its model call took. It follows the CPU: a slower one admits fewer searches."""

    def __init__(self, per_second: float, burst_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = per_second
        self._burst_s = burst_s
        self._clock = clock
        self._left = burst_s
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._left = min(self._burst_s, self._left + (now - self._at) * self._per_second)
        self._at = now

    def wait_s(self) -> float:
        """0 while there is budget left, else the seconds until there is."""
        self._refill()
        return 0.0 if self._left > 0 else -self._left / self._per_second

    def spend(self, seconds: float) -> None:
        self._refill()
        self._left -= seconds


class Slots:
    """At most `size` holders at once; `take` says False at once when none is free."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0

    def take(self) -> bool:
        if self.taken >= self.size:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken -= 1

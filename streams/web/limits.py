"""What keeps the public search from hurting chats: a per-client rate limit (a token bucket per address) and a
bound on the searches waiting for the model at once. Both answer at once with how long to wait, never queue."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Addresses remembered at once: past that the least recently seen is forgotten (it starts again with a full bucket).
MAX_CLIENTS = 10_000


class RateLimiter:
    """`debt`: a refused request costs its client too (right for one client's bucket; a bucket shared by all
    clients without it, or one flood would keep it empty for everyone)."""

    def __init__(
        self, rate: float, burst: int, *, debt: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._debt = debt
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait_s(self, client: str) -> float:
        """0 and a request taken from `client`'s bucket, or the seconds until it may ask again. With `debt`, a
        refused request costs too (down to one burst of debt): a client that keeps asking stays refused until it
        slows down."""
        now = self._clock()
        tokens, then = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate) - 1
        wait = 0.0 if tokens >= 0 else -tokens / self._rate
        if wait and not self._debt:
            tokens += 1
        self._buckets[client] = (max(tokens, -self._burst), now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


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

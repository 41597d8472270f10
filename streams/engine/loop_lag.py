"""How late the worker's event loop runs: a timer every `interval_s` notes how much later than asked it woke.

A blocked loop (a long callback, a garbage collection, the GIL held by a thread) delays every chat in the worker
at once; the running total lets a chat's timeline say how much of that fell while it was in the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from mode import Service

INTERVAL_S = 0.01
# asyncio sleeps through epoll, whose timeout is in whole milliseconds: a healthy loop wakes up to 1 ms late.
RESOLUTION_S = 0.001


class LoopLag(Service):
    def __init__(
        self,
        *,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._observe = observe
        self.total_s = 0.0  # lag counted since the worker started

    def woke(self, due: float, now: float) -> float:
        """Count one wake-up of the timer due at `due`; returns its lag (beyond the timer's resolution)."""
        late = max(0.0, now - due - RESOLUTION_S)
        self.total_s += late
        if self._observe is not None:
            self._observe(late)
        return late

    @Service.task
    async def _probe(self) -> None:
        while not self.should_stop:
            due = self._clock() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self.woke(due, self._clock())

"""The recent path of each stream partition's events in the consumer: seeks, revocations, deliveries, acks and
commits, with the group generation of each. The consumer's watchdog logs it when it reads a partition again, so a
firing says how the event it re-reads came to be left undone.

Thread-safe without a lock: seeks are noted on the consumer's thread, the rest on the app's, and a bounded
`deque`'s appends and copies are atomic.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable

# Steps kept per partition: about two per event, so the steps of an event left undone for the watchdog's wait are
# still there at a few tens of events a second per partition.
KEPT = 2048
NEAR = 3  # offsets on either side of the event re-read whose steps are shown
WHOLE = ("seek", "revoked", "committed offset recorded")  # steps about the partition, always shown


class Trail:
    def __init__(self) -> None:
        self._steps: dict[Hashable, deque[tuple[float, str, int | None, int | None]]] = {}

    def note(self, partition: Hashable, step: str, offset: int | None, generation: int | None) -> None:
        steps = self._steps.get(partition)
        if steps is None:
            steps = self._steps.setdefault(partition, deque(maxlen=KEPT))
        steps.append((time.time(), step, offset, generation))

    def around(self, partition: Hashable, offset: int) -> list[str]:
        """The steps kept for `partition` about the partition as a whole, about an offset within `NEAR` of
        `offset`, and of its commits the first past `offset` after each seek and the last, oldest first."""
        steps = list(self._steps.get(partition, ()))
        commits = [i for i, (_, step, _, _) in enumerate(steps) if step == "commit"]
        shown = set(commits[-1:])
        past = True
        for i, (_, step, at_offset, _) in enumerate(steps):
            if step == "seek":
                past = False
            elif step == "commit" and not past and at_offset is not None and at_offset > offset:
                shown.add(i)
                past = True
        return [
            f"{at:.3f} generation {generation} {step}" + ("" if at_offset is None else f" {at_offset}")
            for i, (at, step, at_offset, generation) in enumerate(steps)
            if step in WHOLE or i in shown or (at_offset is not None and abs(at_offset - offset) <= NEAR)
        ]

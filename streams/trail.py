"""The recent path of each stream partition's events in the consumer: seeks, revocations, deliveries, acks and
commit offsets, with the group generation of each. The consumer's watchdog logs it when it reads a partition
again, so a firing says how the event it re-reads came to be left undone.

Thread-safe without a lock: seeks are noted on the consumer's thread, the rest on the app's, and a bounded
`deque`'s appends and copies are atomic.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Hashable

# The steps of each event kept per partition: enough that those of an event left undone are still there when the
# watchdog gives up on it, at a busy partition's rate.
KEPT = 2048
# Steps about the partition as a whole, kept apart so a busy partition's events do not push out the seek that
# explains them.
WHOLE = ("seek", "revoked", "committed offset recorded")
WHOLE_KEPT = 64
NEAR = 3  # offsets on either side of the event re-read whose steps are shown

Step = tuple[int, float, str, int | None, int | None]  # the order noted, then the wall clock


class Trail:
    def __init__(self) -> None:
        self._steps: dict[Hashable, deque[Step]] = {}
        self._whole: dict[Hashable, deque[Step]] = {}
        self._order = itertools.count()

    def note(self, partition: Hashable, step: str, offset: int | None, generation: int | None) -> None:
        """`step` is one of `WHOLE`, or about the event at `offset` ("committing": the offset the consumer is about
        to commit)."""
        kept, size = (self._whole, WHOLE_KEPT) if step in WHOLE else (self._steps, KEPT)
        steps = kept.get(partition)
        if steps is None:
            steps = kept.setdefault(partition, deque(maxlen=size))
        steps.append((next(self._order), time.time(), step, offset, generation))

    def around(self, partition: Hashable, offset: int) -> list[str]:
        """The steps kept for `partition` about the partition as a whole, about an offset within `NEAR` of
        `offset`, and of its commit offsets the first past `offset` after each seek and the last, oldest first."""
        steps = sorted([*self._whole.get(partition, ()), *self._steps.get(partition, ())])
        commits = [i for i, (_, _, step, _, _) in enumerate(steps) if step == "committing"]
        shown = set(commits[-1:])
        past = True
        for i, (_, _, step, at_offset, _) in enumerate(steps):
            if step == "seek":
                past = False
            elif step == "committing" and not past and at_offset is not None and at_offset > offset:
                shown.add(i)
                past = True
        return [
            f"{at:.3f} generation {generation} {step}" + ("" if at_offset is None else f" {at_offset}")
            for i, (_, at, step, at_offset, generation) in enumerate(steps)
            if step in WHOLE or i in shown or (at_offset is not None and abs(at_offset - offset) <= NEAR)
        ]

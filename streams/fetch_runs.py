"""Which fetched records continue an unbroken run of their partition, so a skipped offset can be told from a seek.

Kafka offsets can skip (transaction markers, compaction): the consumer counts a skipped offset as done, or its
commits would wait for it forever. Faust decides from the last offset it delivered, and so mistakes a seek for
a skip: records fetched before a rebalance's seek but delivered after it made Faust count the real events between
the sought offset and them as skipped, then drop those events when they arrived. Here a run starts at a seek, a
record handed over by the broker client before the latest seek of its partition is left for the seek to fetch
again, and only a record that follows the run can reveal skipped offsets.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable


class FetchRuns:
    """Thread-safe: seeks and fetches are marked on the consumer's thread, records followed on the app's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seeks = 0
        self._sought_at: dict[Hashable, int] = {}
        self._next: dict[Hashable, int] = {}

    def mark(self) -> int:
        """Taken when the broker's records are handed over: pass it to `follow` for each of them."""
        with self._lock:
            return self._seeks

    def sought(self, partition: Hashable, offset: int | None) -> None:
        """`partition` now reads from `offset` (None: from wherever the broker says). Called in the same step as
        the seek, on the consumer's thread: a record handed over after the seek must never be taken for an older
        one, which would not be delivered."""
        with self._lock:
            self._seeks += 1
            self._sought_at[partition] = self._seeks
            if offset is None:
                self._next.pop(partition, None)
            else:
                self._next[partition] = offset

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Revoked: whoever reads them next starts a run of their own."""
        for partition in partitions:
            self.sought(partition, None)

    def follow(self, partition: Hashable, offset: int, mark: int) -> range | None:
        """The offsets skipped just before this record (empty unless it provably follows its partition's run), or
        None for a record handed over before the latest seek of its partition: the seek reads it again if it is
        not done yet (a seek goes back to the committed offset), so it is not delivered twice."""
        with self._lock:
            if self._sought_at.get(partition, 0) > mark:
                return None
            expected = self._next.get(partition)
            self._next[partition] = offset + 1
        if expected is None or offset <= expected:
            return range(0)
        return range(expected, offset)

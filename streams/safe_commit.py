"""A Faust consumer that never commits an offset past an event it has not acked.

faust-streaming 0.15.3 computes the offset to commit from the acked offsets of a partition, and checks for an
unacked event before them with `min(acked) - committed > 1`, skipped entirely while nothing has been committed
yet (`committed` is None or 0). So when event N is still being retried and N+1 is acked (batches are acked out of
order, and Faust acks events it skips while stopping), it commits N+2: a crash then loses N. Measured here: a
chat whose dead letter could not be written crashed the worker as designed, and the restarted worker never saw it.

This consumer commits only the run of acked offsets that starts right at the committed position, and never
beyond the lowest event it is still holding unacked.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


class SafeCommitConsumer(faust_aiokafka.Consumer):
    def _new_offset(self, tp: TP) -> int | None:
        acked: list[int] = self._acked[tp]
        if not acked:
            return None
        self._merge_gaps(tp, acked)
        acked.sort()
        committed: int | None = self._committed_offset[tp]
        if committed is not None and acked[0] > committed:
            return None  # the event at `committed` is not acked yet
        held = [m.offset for m in self._unacked_messages if m.tp == tp and not m.acked]
        if held and min(held) < acked[0]:
            return None  # an earlier event is still being handled
        run = 1
        while run < len(acked) and acked[run] == acked[run - 1] + 1:
            run += 1
        offset = acked[run - 1] + 1
        if held and min(held) < offset:
            return None
        del acked[:run]
        self._acked_index[tp].difference_update(range(offset - run, offset))
        return offset

    def _merge_gaps(self, tp: TP, acked: list[int]) -> None:
        """Offsets that do not exist (transaction markers, compacted away) count as acked, as in Faust."""
        gaps = self._gap[tp]
        if not gaps:
            return
        highest = max(acked)
        candidates = sorted(gaps.overlap(0, highest), key=lambda interval: interval.begin)
        if candidates:
            missing = [offset for interval in candidates for offset in range(interval.begin, interval.end)]
            acked.extend(missing)
            gaps.chop(0, max(missing[-1], highest + 1))


class SafeCommitTransport(faust_aiokafka.Transport):
    Consumer = SafeCommitConsumer


class App(faust.App):
    """faust.App whose consumer commits safely (see the module's docstring)."""

    def _new_transport(self) -> Any:
        return SafeCommitTransport(self.conf.broker_consumer, self)

"""helpstream's Faust consumer: it never commits an offset past an event that was not handled, and its fetch
wait can be set (the embedded broker holds every fetch for the whole wait, 1.5 s in Faust).

faust-streaming 0.15.3 and aiokafka 0.14 lose events in four ways, each seen in helpstream's reliability suite:

- While a rebalance or a stop is under way, a stream *skips* the events already fetched, and acks them as if
  they had been handled. A rebalance forgets the committed position, so the next commit covers them: with the
  broker paused for 10 s under load (the group rebalanced), 21 of 722 chats got no recommendation.
- It checks for an unacked event before the acked ones with `min(acked) - committed > 1` (off by one), and not
  at all while nothing has been committed yet. So when event N is still being retried and N+1 is acked, it
  commits N+2: a chat whose dead letter could not be written crashed the worker, and was gone after the restart.
- It keeps the events still being handled in a `WeakSet`: once a crashed batch's events are dropped, nothing
  remembers that they were never acked.
- While a new worker recovers its table, aiokafka prefetches its stream partitions and Faust drops what arrives.
  Faust then seeks back to the committed offsets, but aiokafka seeks only to a committed offset above 0: a
  partition with nothing committed keeps the advanced position: under load, a restarted worker found its position
  past the one chat it had to redo in 5 of 8 restarts, and never handled it in 1 of 4.

This consumer rewinds every stream partition with nothing committed to its beginning (the app's reset policy is
`earliest`), ignores acks of events the stream never handed out, holds unacked events by strong reference until
they are acked or their partition is revoked, and commits only the run of acked offsets that starts at the
committed position and stays below the lowest event still being handled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

logger = logging.getLogger(__name__)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_wait_ms", None)
        if wait_ms is not None:
            # Faust passes a fixed 1500 ms; aiokafka reads it when the consumer starts, after this.
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed: Mapping[TP, int] = await self.call_thread(self._seek_to_committed_or_beginning)
        return committed

    async def _seek_to_committed_or_beginning(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[TP, int] = await consumer.seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if uncommitted:
            # Not `seek_to_beginning`: it leaves the position unset until a ListOffsets answer arrives, and
            # Faust's livelock check reads the position of every assigned partition unguarded.
            beginnings: Mapping[TP, int] = await consumer.beginning_offsets(uncommitted)
            assigned = consumer.assignment()
            for tp, offset in beginnings.items():
                if tp in assigned:  # a rebalance may have taken it while the offsets were asked for
                    consumer.seek(tp, offset)
        return committed

    def verify_event_path(self, now: float, tp: TP) -> None:
        """Faust's livelock check, skipped for a partition whose position is being reset (a seek to the beginning,
        or aiokafka's own reset after an out-of-range fetch): Faust reads the position unguarded and crashes."""
        if not _has_position(self._ensure_consumer(), tp):
            return None
        try:
            super().verify_event_path(now, tp)
        except AssertionError:
            # The consumer thread can start a reset between the check above and Faust's read.
            logger.debug("livelock check of %s skipped: its position is being reset", tp)
        return None


def _has_position(consumer: Any, tp: TP) -> bool:
    subscription = consumer._fetcher._subscriptions.subscription
    assignment = None if subscription is None else subscription.assignment
    if assignment is None:
        return False
    state = assignment.state_value(TopicPartition(tp.topic, tp.partition))
    return state is not None and bool(state.has_valid_position)


class SafeCommitConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unacked_messages: set[Message] = set()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Message) -> bool:
        if not message.tracked:
            return False  # skipped by the stream (rebalance, stop): never handled, so not done
        acked: bool = super().ack(message)
        return acked

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Their events are fetched again from the committed position by whoever gets the partitions.
        self._unacked_messages -= {m for m in self._unacked_messages if m.tp in revoked}
        await super().on_partitions_revoked(revoked)

    def _new_offset(self, tp: TP) -> int | None:
        acked: list[int] = self._acked[tp]
        if not acked:
            return None
        self._merge_gaps(tp, acked)
        acked.sort()
        committed: int | None = self._committed_offset[tp]
        if committed is not None and acked[0] > committed:
            return None  # the event at `committed` is not acked yet
        lowest_held = min((m.offset for m in self._unacked_messages if m.tp == tp and not m.acked), default=None)
        if lowest_held is not None and lowest_held < acked[0]:
            return None  # an earlier event is still being handled
        run = 1
        while run < len(acked) and acked[run] == acked[run - 1] + 1:
            run += 1
        offset = acked[run - 1] + 1
        if lowest_held is not None and lowest_held < offset:
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
    """faust.App whose consumer commits safely and fetches with `fetch_wait_ms` (see the module's docstring)."""

    fetch_wait_ms: int | None = None

    def _new_transport(self) -> Any:
        return SafeCommitTransport(self.conf.broker_consumer, self)

"""helpstream's Faust consumer: it never commits an offset past an event that was not handled, never drops an
event it fetched, never leaves a partition without a position where Faust reads it, and its fetch wait can be set
(the embedded broker holds every fetch for the whole wait, 1.5 s in Faust).

faust-streaming 0.15.3 and aiokafka 0.14 lose events or crash in these ways, each seen in helpstream's tests:

- While a rebalance or a stop is under way, a stream *skips* the events already fetched, and acks them as if
  they had been handled. A rebalance forgets the committed position, so the next commit covers them: with the
  broker paused for 10 s under load (the group rebalanced), 21 of 722 chats got no recommendation. Upstream: the
  skip came with faust-streaming PR #223 (the fix of #221, closed); no open issue covers its acks.
- It checks for an unacked event before the acked ones with `min(acked) - committed > 1` (off by one), and not
  at all while nothing has been committed yet. So when event N is still being retried and N+1 is acked, it
  commits N+2: a chat whose dead letter could not be written crashed the worker, and was gone after the restart.
  Upstream: faust-streaming #606 (open; its fix, PR #707, is not released).
- It keeps the events still being handled in a `WeakSet`: once a crashed batch's events are dropped, nothing
  remembers that they were never acked. Upstream: part of #606.
- While a new worker recovers its table, aiokafka prefetches its stream partitions and Faust drops what arrives.
  Faust then seeks back to the committed offsets, but aiokafka seeks only to a committed offset above 0: a
  partition with nothing committed keeps the advanced position: under load, a restarted worker found its position
  past the one chat it had to redo in 5 of 8 restarts, and never handled it in 1 of 4. Upstream: a neighbour of
  #216 (closed: the order of seek and resume), not reported as such.
- Rewinding such a partition with aiokafka's `seek_to_beginning` leaves its position unset until the broker
  answers, and Faust's livelock check reads it unguarded: a worker joining a fresh group crashed at start.
  Upstream: faust-streaming #629 (open: the same check misfiring for partitions after a rebalance).
- After a seek back to the committed offset, Faust drops every fetched event below the last offset it delivered,
  and takes a record fetched before the seek but delivered after it for a jump over missing offsets, which it
  counts as done (`streams.fetch_runs`): chats lost while workers joined and left. Upstream: neighbours of #221
  and #236 (closed: prefetched events delivered out of order after a rebalance).
- When recovery resumes the flow for the last time, after the stream partitions were sought and read, Faust
  clears the agents' queues and drops the events handed over since the seek: chats delayed until the watchdog
  below read their partition again, after workers joined and left. Upstream: faust-streaming #596 (open). The
  app's flow control (`streams.flow_control`) keeps them.
- Recovery's seek reads every stream partition's committed offset, seeks it, and only when all are sought
  records them as the committed positions. The flow already runs by then, so a partition sought first can be read,
  handled and committed meanwhile: its committed position went back to before that commit, and its commits
  stopped, waiting for an event already done, until the watchdog below read the partition again. Seen as a
  re-read of an event "never delivered" after workers joined and left, where the broker was slow to answer.
  Upstream: a neighbour of faust-streaming #318 (closed: offsets not committed after two rebalances), not
  reported as such.

This consumer rewinds every stream partition with nothing committed to its beginning (the app's reset policy is
`earliest`) with a seek that sets the position at once, skips the livelock check of a partition whose position
is being reset, delivers every record fetched since the last seek of its partition and counts an offset as
missing only within an unbroken run, ignores acks of events the stream never handed out, holds unacked events
by strong reference until they are acked or their partition is revoked, never moves a committed position back,
and commits only the run of acked offsets that starts at the committed position and stays below the lowest event
still being handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import faust
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from agents.take import was_taken
from agents.timeline import stamp
from streams.engine.loop_lag import LoopLag
from streams.fetch_runs import FetchRuns
from streams.flow_control import FlowControl
from streams.producer import Producer as IdempotentProducer
from streams.trail import Trail

logger = logging.getLogger(__name__)

# Far above a batch's handling with its retries (0.5 + 1 + 2 + 4 s of backoff), so only a lost event is re-read.
STUCK_S = 10.0


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    @property
    def _safe(self) -> SafeCommitConsumer:
        return cast(SafeCommitConsumer, self.consumer)

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

    async def _seek_to_committed_or_beginning(self) -> Mapping[TP, int | None]:
        """aiokafka's `seek_to_committed`, plus partitions with nothing committed rewound to their beginning; each
        seek is marked as it is applied."""
        consumer = self._ensure_consumer()
        committed: dict[TP, int | None] = {}
        for tp in consumer.assignment():
            committed[tp] = offset = await consumer.committed(tp)
            if offset and tp in consumer.assignment():
                self._seek_and_mark(tp, offset)
                self._safe.positioned(tp, offset)
        changelogs = self.app.tables.changelog_topics
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if uncommitted:
            # Not `seek_to_beginning`: it leaves the position unset until a ListOffsets answer arrives, and
            # Faust's livelock check reads the position of every assigned partition unguarded.
            beginnings: Mapping[TP, int] = await consumer.beginning_offsets(uncommitted)
            for tp, offset in beginnings.items():
                if tp in consumer.assignment():  # a rebalance may have taken it while the offsets were asked for
                    self._seek_and_mark(tp, offset)
                    self._safe.positioned(tp, offset)
        sought = ", ".join(f"{tp.topic}[{tp.partition}] {at}" for tp, at in sorted(self._safe._floor.items()))
        logger.info("stream partitions read from: %s", sought or "none")
        return committed

    async def _seek_wait(self, consumer: Any, partitions: Mapping[TP, int]) -> None:
        """Faust's, with each seek marked as it is applied."""
        for tp, offset in partitions.items():
            self._seek_and_mark(tp, offset)
        await asyncio.wait_for(
            asyncio.gather(*[consumer.position(tp) for tp in partitions]), timeout=self.app.conf.broker_request_timeout
        )

    async def seek_marked(self, partition: TP, offset: int) -> None:
        """`_seek_and_mark` for a caller on the app's thread (`SafeCommitConsumer._seek`)."""
        self._seek_and_mark(partition, offset)

    def _seek_and_mark(self, tp: TP, offset: int) -> None:
        """A seek and its mark in one step, on the consumer's thread (see `streams.fetch_runs`)."""
        self._ensure_consumer().seek(tp, offset)
        self._safe.runs.sought(tp, offset)
        self._safe.trail.note(tp, "seek", offset, self._safe.app.consumer_generation_id)

    async def _fetch_records(self, consumer: Any, *args: Any, **kwargs: Any) -> Any:
        records = await super()._fetch_records(consumer, *args, **kwargs)
        self._safe.fetch_mark = self._safe.runs.mark()  # same step: no seek can come between
        self._safe.fetched_at = time.time()
        return records

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
        self.runs = FetchRuns()
        # The mark of the records being delivered: one fetch at a time, by the one drain loop.
        self.fetch_mark = 0
        # Where each stream partition was sought to since it was assigned: no commit below it, and none at all
        # before it is known.
        self._floor: dict[TP, int] = {}
        self._stuck_since: dict[TP, tuple[int, float]] = {}
        self.rereads = 0
        self.fetched_at = 0.0  # when the records being delivered were taken from the fetch (wall clock)
        self.trail = Trail()

    def _note(self, message: Message, step: str) -> None:
        self.trail.note(message.tp, step, message.offset, message.generation_id)

    def _to_message(self, tp: TP, record: Any) -> Any:
        """Faust's, with the event stamped for its chat's timeline (`agents.timeline`)."""
        message = super()._to_message(tp, record)
        lag = getattr(self.app, "loop_lag", None)
        stamp(message, self.fetched_at, 0.0 if lag is None else lag.total_s)
        return message

    async def perform_seek(self) -> None:
        """Faust's, except that an offset read before the seek never replaces a later commit of this worker (see
        the module's docstring)."""
        committed = await self.seek_to_committed()
        for raw, offset in committed.items():
            tp = ensure_TP(raw)
            self._read_offset[tp] = offset if offset is not None and offset >= 0 else None
            known = self._committed_offset[tp]
            if offset and (known is None or offset > known):
                self._committed_offset[tp] = offset
            self.trail.note(
                tp, "committed offset recorded", self._committed_offset[tp], self.app.consumer_generation_id
            )

    def lags(self) -> dict[TP, int]:
        """Per assigned stream partition, the records between the offset the group will commit next and the
        partition's end: the lag the broker reports for the group (and KEDA scales on). Partitions not sought yet
        since assignment, changelogs included, and those whose end is not known yet are left out."""
        found = {}
        for tp in self.assignment():
            end, start = self.highwater(tp), self._commit_start(tp)
            if end is not None and end >= 0 and start is not None:
                found[tp] = max(0, end - start)
        return found

    def positioned(self, tp: TP, offset: int) -> None:
        self._floor[tp] = offset
        self._stuck_since.pop(tp, None)

    def _watch_stuck(self, tp: TP, start: int) -> None:
        """Re-reads `tp` from `start` once the event there has stayed undone for `STUCK_S` while later ones of its
        partition were done, unless an agent's batch holds it (retried, or queued behind other work: it is not
        lost, however long it takes). A safety net expected never to fire: its known causes, recovery clearing the
        agents' queues after its seek (`streams.flow_control`) and recovery moving a committed position back
        (`perform_seek`), are fixed; without it, an event lost some other way would wait for the next rebalance.
        Each firing is counted (`rereads`, an alert) and logged with where the event was and the partition's recent
        steps (`streams.trail`)."""
        copies = [m for m in self._unacked_messages if m.tp == tp and m.offset == start]
        held = copies[0] if copies else None
        if copies and all(was_taken(m) for m in copies):
            self._stuck_since.pop(tp, None)
            return
        since = self._stuck_since.setdefault(tp, (start, time.monotonic()))
        if since[0] != start:
            self._stuck_since[tp] = (start, time.monotonic())
            return
        if time.monotonic() - since[1] < STUCK_S or tp not in self.assignment():
            return
        logger.warning(
            "%s: the event at offset %s is not done %.0f s after later ones (%s): reading again from it; "
            "the partition's recent steps (now generation %s):\n%s",
            tp,
            start,
            STUCK_S,
            "delivered to the stream, never taken into a batch" if held is not None else "never delivered",
            self.app.consumer_generation_id,
            "\n".join(self.trail.around(tp, start)),
        )
        self.rereads += 1
        self._stuck_since.pop(tp, None)
        self._unacked_messages -= {m for m in self._unacked_messages if m.tp == tp and m.offset == start}
        self.add_future(self._reread(tp, start))

    async def _reread(self, tp: TP, offset: int) -> None:
        with contextlib.suppress(IllegalStateError):  # revoked meanwhile: its next owner reads it from the committed
            await self._seek(tp, offset)

    async def _seek(self, partition: TP, offset: int) -> None:
        # Faust's seeks the partition from this thread while the consumer's thread may be handing records over.
        thread = cast(ConsumerThread, self._thread)
        await thread.call_thread(thread.seek_marked, partition, offset)

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Message) -> bool:
        if not message.tracked:
            self._note(message, "skipped by the stream")
            return False  # skipped by the stream (rebalance, stop): never handled, so not done
        if self.app.topics.acks_enabled_for(message.topic) and (
            message.tp not in self._floor or message.generation_id != self.app.consumer_generation_id
        ):
            # Handed out before a rebalance: its partition is read again from the committed offset, here or by
            # its new owner. Counted now, its offset could be committed past events of the same batch that
            # never finish (the committed position is forgotten until the partition is sought again).
            self._unacked_messages.discard(message)
            self._note(message, "ack of an earlier assignment, not counted")
            return False
        acked: bool = super().ack(message)
        self._note(message, "acked")
        if message.acked:
            self._unacked_messages.discard(message)  # Faust keeps a second delivery of an acked offset
        return acked

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Their events are fetched again from the committed position by whoever gets the partitions.
        self._unacked_messages -= {m for m in self._unacked_messages if m.tp in revoked}
        self.runs.forget(revoked)
        for tp in revoked:
            self.trail.note(tp, "revoked", None, self.app.consumer_generation_id)
            self._floor.pop(tp, None)
            self._stuck_since.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, except that offsets skipped are told from seeks (`streams.fetch_runs`) and a record
        is left out only when it was fetched before a seek of its partition: Faust drops every record below the
        last offset it delivered, which after a seek back are exactly the events not yet done."""
        fetcher_stopped = fetcher._stopped.is_set
        acks_enabled_for = self.app.topics.acks_enabled_for
        try:
            while not (self._stopped.is_set() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                since_yield, left_out = 0, set()
                async for tp, message in records:
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    skipped = self.runs.follow(tp, message.offset, self.fetch_mark)
                    if skipped is None:  # fetched before a seek back: fetched again from there
                        self._note(message, "left for its seek")
                        if tp not in left_out:
                            left_out.add(tp)
                            logger.info("%s from offset %s: fetched before its seek, read again", tp, message.offset)
                        continue
                    if skipped and acks_enabled_for(message.topic):
                        self._count_as_done(tp, skipped)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    self._note(message, "handed over")
                    delivery = self.callback(message)
                    if delivery not in (await self.wait_first(delivery, self.suspend_flow.wait())).done:
                        self._note(message, "handing over cut short by a stopped flow")
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                logger.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                logger.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            logger.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    def _commit_start(self, tp: TP) -> int | None:
        """Where the next commit's run of acked offsets must start: the committed offset, else where the partition
        was sought to; None before either is known."""
        committed: int | None = self._committed_offset[tp]
        return committed if committed is not None else self._floor.get(tp)

    def _count_as_done(self, tp: TP, skipped: range) -> None:
        """Offsets that do not exist are merged into the acked ones when committing (`_merge_gaps`)."""
        floor = self._commit_start(tp)
        start = skipped.start if floor is None else max(skipped.start, floor)
        if start < skipped.stop:
            gaps = self._gap[tp]
            gaps.addi(start, skipped.stop)
            gaps.merge_overlaps()

    def _new_offset(self, tp: TP) -> int | None:
        acked: list[int] = self._acked[tp]
        if not acked:
            return None
        self._merge_gaps(tp, acked)
        acked.sort()
        start = self._commit_start(tp)
        if start is None:
            return None  # not sought since it was assigned: where its run of acks must start is not known
        while acked and acked[0] < start:
            self._acked_index[tp].discard(acked.pop(0))
        if not acked or acked[0] > start:
            if acked:
                self._watch_stuck(tp, start)
            return None  # the event at `start` is not acked yet
        self._stuck_since.pop(tp, None)
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
        self.trail.note(tp, "committing", offset, self.app.consumer_generation_id)
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
    Producer = IdempotentProducer


class App(faust.App):
    """faust.App whose consumer commits safely and fetches with `fetch_wait_ms` (see the module's docstring), and
    whose flow control keeps the events already queued for agents when recovery resumes a flowing stream
    (`streams.flow_control`)."""

    fetch_wait_ms: int | None = None
    producer_idempotence: bool = False
    loop_lag: LoopLag | None = None

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControl(loop=self.loop)

    def _new_transport(self) -> Any:
        return SafeCommitTransport(self.conf.broker_consumer, self)

    def consumer_if_made(self) -> SafeCommitConsumer | None:
        """The consumer once the worker has made it, else None: reading `consumer` would make one (with its thread's
        event loop) on a worker that has not started."""
        return cast("SafeCommitConsumer | None", self._consumer)

"""The consumer never commits past an event it has not acked (Faust 0.15.3 does, in two
cases), and never leaves a partition without a position where Faust reads it."""

from __future__ import annotations

import logging
from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from aiokafka.consumer.fetcher import OffsetResetStrategy
from aiokafka.consumer.subscription_state import SubscriptionState
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from intervaltree import IntervalTree

from agents.take import mark_taken
from streams.consumer import STUCK_S, ConsumerThread, SafeCommitConsumer
from streams.fetch_runs import FetchRuns
from streams.trail import Trail

PARTITION = TP("chat.started", 1)


GENERATION = 7


def consumer(committed: int | None, acked: list[int], held: list[int], floor: int | None = 0) -> Any:
    """The consumer's commit bookkeeping only: acked offsets, the committed position, events still held, and the
    offset the partition was last sought to (None: not sought since it was assigned)."""
    c: Any = object.__new__(SafeCommitConsumer)
    c._acked = defaultdict(list, {PARTITION: list(acked)})
    c._acked_index = defaultdict(set, {PARTITION: set(acked)})
    c._committed_offset = defaultdict(lambda: None, {PARTITION: committed})
    c._gap = defaultdict(IntervalTree)
    c._unacked_messages = {FakeMessage(o) for o in held}
    c._floor = {} if floor is None else {PARTITION: floor}
    c._n_acked, c._waiting_for_ack = 0, None
    c.app = SimpleNamespace(
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True), consumer_generation_id=GENERATION
    )
    c.runs = FetchRuns()
    c._stuck_since, c.rereads = {}, 0
    c.trail = Trail()
    return c


class FakeMessage(SimpleNamespace):
    """Stands in for Faust's Message: hashable by identity, like it."""

    def __init__(self, offset: int, generation: int = GENERATION, tracked: bool = True) -> None:
        super().__init__(tp=PARTITION, topic=PARTITION.topic, offset=offset, acked=False, tracked=tracked)
        self.generation_id = generation

    __hash__ = object.__hash__


def test_nothing_committed_yet_and_the_first_event_still_held_commits_nothing() -> None:
    # Faust commits 3 here: a crash would lose offset 0.
    assert consumer(None, [1, 2], held=[0])._new_offset(PARTITION) is None


def test_one_unacked_event_right_at_the_committed_position_blocks_the_commit() -> None:
    # Faust's `min(acked) - committed > 1` lets this one through and commits 34.
    assert consumer(31, [32, 33], held=[31])._new_offset(PARTITION) is None


def test_the_contiguous_run_from_the_committed_position_is_committed_and_forgotten() -> None:
    c = consumer(31, [31, 32, 33, 35], held=[34])
    assert c._new_offset(PARTITION) == 34
    assert c._acked[PARTITION] == [35]
    assert c._acked_index[PARTITION] == {35}
    assert c._new_offset(PARTITION) is None


def test_a_fresh_partition_with_everything_acked_commits_past_the_last_event() -> None:
    assert consumer(None, [0, 1, 2], held=[])._new_offset(PARTITION) == 3


def test_with_nothing_committed_the_run_must_start_where_the_partition_was_sought_to() -> None:
    # 100..129 are still being handled by a batch the stream handed out before a rebalance (no longer held):
    # committing 160 would lose them if that batch never finishes.
    assert consumer(None, list(range(130, 160)), held=[], floor=100)._new_offset(PARTITION) is None
    assert consumer(None, list(range(130, 160)), held=[], floor=None)._new_offset(PARTITION) is None


def test_an_event_the_stream_skipped_is_not_done_when_faust_acks_it() -> None:
    c = consumer(31, [], held=[])
    assert c.ack(FakeMessage(31, tracked=False)) is False
    assert c._acked[PARTITION] == []
    assert c._new_offset(PARTITION) is None


def test_an_ack_of_an_event_handed_out_before_a_rebalance_is_not_counted() -> None:
    c = consumer(None, [], held=[], floor=None)  # revoked, assigned again, not yet sought
    late = FakeMessage(130, generation=GENERATION - 1)
    c._unacked_messages.add(late)
    assert c.ack(late) is False
    assert c.ack(FakeMessage(131)) is False  # this generation, but the partition's position is not known yet
    assert c._acked[PARTITION] == []
    assert not c._unacked_messages  # nor does it hold back commits once its partition is sought again


def test_an_ack_after_the_partition_was_sought_is_counted_and_committed_from_there() -> None:
    c = consumer(None, [], held=[], floor=None)
    c.positioned(PARTITION, 100)
    events = [FakeMessage(o) for o in (100, 101)]
    c._unacked_messages.update(events)
    assert [c.ack(e) for e in events] == [True, True]
    assert c._new_offset(PARTITION) == 102


def test_missing_offsets_are_counted_as_done_only_from_the_committed_position() -> None:
    c = consumer(50, [53], held=[])
    c._count_as_done(PARTITION, range(40, 53))  # 50..52 do not exist; 40..49 are below what is committed
    assert c._new_offset(PARTITION) == 54


class Partitions:
    """aiokafka's own partition state (positions, resets) behind the few consumer calls the seek override makes."""

    def __init__(self, committed: dict[TP, int | None], beginnings: dict[TP, int], taken: set[TP] = frozenset()):
        self.state = SubscriptionState()
        self.state.assign_from_user(set(committed))
        self._committed, self._beginnings, self._taken = committed, beginnings, taken
        self._fetcher = SimpleNamespace(_subscriptions=self.state)

    async def committed(self, tp: TP) -> int | None:
        return self._committed[tp]

    async def beginning_offsets(self, partitions: list[TP]) -> dict[TP, int]:
        if self._taken:  # a rebalance takes these while the offsets are asked for
            self.state.assign_from_user(set(self._committed) - self._taken)
        return {tp: self._beginnings[tp] for tp in partitions}

    def assignment(self) -> set[TP]:
        return set(self.state.assigned_partitions())

    def seek(self, tp: TP, offset: int) -> None:
        self.state.seek(tp, offset)

    def at(self, tp: TP) -> int | None:
        state = self.state.subscription.assignment.state_value(tp)
        return state.position if state.has_valid_position else None

    async def position(self, tp: TP) -> int | None:
        return self.at(tp)


def thread(partitions: Partitions, changelogs: set[str] = frozenset()) -> Any:
    t: Any = object.__new__(ConsumerThread)
    t._consumer = partitions
    t.consumer = consumer(None, [], held=[], floor=None)
    t.app = SimpleNamespace(
        tables=SimpleNamespace(changelog_topics=changelogs), conf=SimpleNamespace(broker_request_timeout=5)
    )
    return t


async def test_partitions_with_nothing_committed_are_rewound_with_a_position_at_once() -> None:
    fresh, used, log = TP("chat.started", 0), TP("chat.started", 1), TP("app-content-changelog", 0)
    partitions = Partitions({fresh: None, used: 40, log: None}, beginnings={fresh: 7, log: 0})
    t = thread(partitions, changelogs={log.topic})
    before = t.consumer.runs.mark()
    committed = await t._seek_to_committed_or_beginning()

    assert committed == {fresh: None, used: 40, log: None}
    # aiokafka's `seek_to_beginning` would leave `fresh` without a position until the broker answers.
    assert partitions.at(fresh) == 7
    assert partitions.at(used) == 40
    assert partitions.at(log) is None  # changelogs are Faust's recovery's to position
    assert t.consumer._floor == {fresh: 7, used: 40}  # commits start there
    # Records handed over before these seeks are left for them to fetch again.
    assert [t.consumer.runs.follow(tp, 99, before) for tp in (fresh, used, log)] == [None, None, range(0)]


async def test_a_partition_taken_by_a_rebalance_while_the_beginnings_are_asked_for_is_not_sought() -> None:
    kept, taken = TP("chat.started", 0), TP("chat.started", 1)
    partitions = Partitions({kept: None, taken: None}, beginnings={kept: 0, taken: 0}, taken={taken})
    t = thread(partitions)
    await t._seek_to_committed_or_beginning()
    assert partitions.assignment() == {kept}
    assert partitions.at(kept) == 0
    assert t.consumer._floor == {kept: 0}


async def test_a_seek_by_faust_is_marked_as_it_is_applied() -> None:
    tp = TP("app-content-changelog", 0)
    partitions = Partitions({tp: None}, beginnings={})
    t = thread(partitions)
    before = t.consumer.runs.mark()
    await t._seek_wait(partitions, {tp: 12})
    assert partitions.at(tp) == 12
    assert t.consumer.runs.follow(tp, 30, before) is None
    assert t.consumer.runs.follow(tp, 14, t.consumer.runs.mark()) == range(12, 14)


async def test_the_mark_of_fetched_records_is_taken_once_the_broker_client_hands_them_over() -> None:
    tp = TP("chat.started", 0)
    t = thread(Partitions({tp: 3}, beginnings={}))
    runs = t.consumer.runs

    async def fetch(self: Any, *args: Any, **kwargs: Any) -> dict[TP, list[int]]:
        runs.sought(tp, 3)  # a seek applied while the fetch was under way: these records are from after it
        return {tp: [3]}

    with patch.object(faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records", fetch):
        assert await t._fetch_records(t._consumer) == {tp: [3]}
    assert runs.follow(tp, 3, t.consumer.fetch_mark) == range(0)  # delivered, not taken for an older record


async def test_the_livelock_check_skips_a_partition_whose_position_is_being_reset() -> None:
    resetting, running = TP("chat.started", 0), TP("chat.started", 1)
    partitions = Partitions({resetting: None, running: 5}, beginnings={})
    partitions.seek(running, 5)
    partitions.state.subscription.assignment.state_value(resetting).await_reset(OffsetResetStrategy.EARLIEST)
    checked: list[TP] = []

    def faust_check(self: Any, now: float, tp: TP) -> None:
        checked.append(tp)
        partitions.state.subscription.assignment.state_value(tp).position  # noqa: B018  (Faust's unguarded read)

    t = thread(partitions)
    with patch.object(faust_aiokafka.AIOKafkaConsumerThread, "verify_event_path", faust_check):
        t.verify_event_path(0.0, resetting)
        t.verify_event_path(0.0, running)
    assert checked == [running]


async def test_a_reset_that_starts_during_the_livelock_check_does_not_crash_the_worker() -> None:
    tp = TP("chat.started", 0)
    partitions = Partitions({tp: 3}, beginnings={})
    partitions.seek(tp, 3)

    def faust_check(self: Any, now: float, checked: TP) -> None:
        state = partitions.state.subscription.assignment.state_value(checked)
        state.await_reset(OffsetResetStrategy.EARLIEST)  # the consumer thread, between the guard and the read
        state.position  # noqa: B018

    with patch.object(faust_aiokafka.AIOKafkaConsumerThread, "verify_event_path", faust_check):
        thread(partitions).verify_event_path(0.0, tp)


async def test_a_commit_made_while_recovery_seeks_is_kept_when_the_seek_returns() -> None:
    # Recovery reads each stream partition's committed offset and seeks it, then records them all. The flow is
    # already running, so this partition's events are handled and committed before the others' seeks return:
    # Faust then records the offset read before that commit, and the commits wait for an event already done.
    c = consumer(None, [], held=[], floor=None)
    c._read_offset = defaultdict(lambda: None)
    committed_meanwhile: list[int | None] = []

    async def seek_to_committed() -> dict[TP, int]:
        c.positioned(PARTITION, 274)
        for offset in range(274, 280):
            c.ack(FakeMessage(offset))
        committed_meanwhile.append(offset := c._new_offset(PARTITION))
        c._committed_offset[PARTITION] = offset  # as Faust's commit records it
        return {PARTITION: 274}  # read before that commit

    c.seek_to_committed = seek_to_committed
    await c.perform_seek()
    assert committed_meanwhile == [280]
    assert c._committed_offset[PARTITION] == 280
    for offset in (280, 281):
        c.ack(FakeMessage(offset))
    assert c._new_offset(PARTITION) == 282  # commits go on; Faust's would stop at 274 until the watchdog fired


async def test_a_seek_records_the_committed_offset_it_read_when_none_was_known() -> None:
    c = consumer(None, [], held=[], floor=None)
    c._read_offset = defaultdict(lambda: None)

    async def seek_to_committed() -> dict[TP, int | None]:
        return {PARTITION: 31, TP("chat.started", 2): None}

    c.seek_to_committed = seek_to_committed
    await c.perform_seek()
    assert c._committed_offset[PARTITION] == 31
    assert c._committed_offset[TP("chat.started", 2)] is None
    assert c._read_offset[PARTITION] == 31
    c._committed_offset[PARTITION] = 20  # another worker committed further while this one did not own it
    await c.perform_seek()
    assert c._committed_offset[PARTITION] == 31


def watched(c: Any) -> tuple[list[Any], list[float]]:
    """The consumer assigned its partition, the re-reads it schedules, and a clock the test moves
    (`streams.consumer.time.monotonic` patched to read it)."""
    c.assignment = lambda: {PARTITION}
    scheduled: list[Any] = []
    c.add_future = scheduled.append
    return scheduled, [1000.0]


def test_an_event_left_undone_while_later_ones_are_done_is_read_again_after_a_while() -> None:
    c = consumer(100, [101, 102], held=[100])
    scheduled, clock = watched(c)
    with patch("streams.consumer.time.monotonic", lambda: clock[0]):
        assert c._new_offset(PARTITION) is None
        clock[0] += STUCK_S - 1
        assert c._new_offset(PARTITION) is None
        assert scheduled == []  # may still be handled: a retry takes seconds
        clock[0] += 2
        assert c._new_offset(PARTITION) is None
    assert len(scheduled) == 1 and scheduled[0].cr_frame.f_locals["offset"] == 100
    scheduled[0].close()
    assert not c._unacked_messages  # the lost copy no longer holds back commits once it is read again
    assert c.rereads == 1


def test_reading_a_partition_again_logs_the_steps_of_the_event_left_undone(caplog: pytest.LogCaptureFixture) -> None:
    c = consumer(100, [], held=[], floor=100)
    c.trail.note(PARTITION, "seek", 100, GENERATION)
    for offset in (100, 101, 102, 140):
        c._note(FakeMessage(offset), "handed over")
    c._note(FakeMessage(100, tracked=False), "skipped by the stream")
    for offset in (101, 102):
        c.ack(FakeMessage(offset))
    scheduled, clock = watched(c)
    with patch("streams.consumer.time.monotonic", lambda: clock[0]), caplog.at_level(logging.WARNING):
        c._new_offset(PARTITION)
        clock[0] += STUCK_S + 1
        c._new_offset(PARTITION)
    scheduled[0].close()
    (warning,) = [r.getMessage() for r in caplog.records if "reading again" in r.getMessage()]
    steps = [line.split(" ", 1)[1] for line in warning.splitlines()[1:]]
    assert steps == [
        f"generation {GENERATION} seek 100",
        f"generation {GENERATION} handed over 100",
        f"generation {GENERATION} handed over 101",
        f"generation {GENERATION} handed over 102",
        f"generation {GENERATION} skipped by the stream 100",
        f"generation {GENERATION} acked 101",
        f"generation {GENERATION} acked 102",
    ]  # 140 is too far from the event to say anything about it


def test_an_event_an_agent_holds_is_never_read_again_however_long_it_takes() -> None:
    # A content edit queued behind a bulk import stays undone for minutes while later events are done: not lost.
    c = consumer(100, [101, 102], held=[100])
    (message,) = c._unacked_messages
    mark_taken(message)
    scheduled, clock = watched(c)
    with patch("streams.consumer.time.monotonic", lambda: clock[0]):
        for _ in range(3):
            assert c._new_offset(PARTITION) is None
            clock[0] += STUCK_S * 10
    assert scheduled == [] and c.rereads == 0


def test_a_copy_an_agent_holds_does_not_hide_a_lost_copy_of_the_same_offset() -> None:
    c = consumer(100, [101, 102], held=[100, 100])
    taken, _lost = c._unacked_messages
    mark_taken(taken)
    scheduled, clock = watched(c)
    with patch("streams.consumer.time.monotonic", lambda: clock[0]):
        c._new_offset(PARTITION)
        clock[0] += STUCK_S + 1
        c._new_offset(PARTITION)
    assert len(scheduled) == 1 and c.rereads == 1
    scheduled[0].close()


def test_an_event_done_in_time_is_not_read_again() -> None:
    c = consumer(100, [101], held=[100])
    scheduled, clock = watched(c)
    with patch("streams.consumer.time.monotonic", lambda: clock[0]):
        c._new_offset(PARTITION)
        for held in c._unacked_messages:
            held.acked = True
        c._acked[PARTITION].append(100)
        clock[0] += STUCK_S + 1
        assert c._new_offset(PARTITION) == 102
    assert scheduled == []


def test_lag_counts_from_the_offset_the_group_commits_next_as_commits_advance() -> None:
    c = consumer(committed=None, acked=[], held=[], floor=40)
    changelog = TP("content-vectors-changelog", 0)
    unknown = TP("chat.started", 3)
    ends = {PARTITION: 50, changelog: 900, unknown: None}
    c._thread = SimpleNamespace(assignment=lambda: set(ends), highwater=ends.get)
    # Sought to 40, nothing committed yet: 40..49 are behind. The changelog (never sought) and a partition whose
    # end is not known are left out.
    assert c.lags() == {PARTITION: 10}
    c._acked[PARTITION] = [40, 41, 42]
    c._committed_offset[PARTITION] = c._new_offset(PARTITION)
    assert c.lags() == {PARTITION: 7}
    ends[PARTITION] = 60  # more chats arrive
    assert c.lags() == {PARTITION: 17}

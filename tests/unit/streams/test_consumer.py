"""The consumer never commits past an event it has not acked (Faust 0.15.3 does, in two
cases), and never leaves a partition without a position where Faust reads it."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from aiokafka.consumer.fetcher import OffsetResetStrategy
from aiokafka.consumer.subscription_state import SubscriptionState
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from intervaltree import IntervalTree

from streams.consumer import ConsumerThread, SafeCommitConsumer
from streams.fetch_runs import FetchRuns

PARTITION = TP("chat.started", 1)


def consumer(committed: int | None, acked: list[int], held: list[int]) -> Any:
    """The consumer's commit bookkeeping only: acked offsets, the committed position, events still held."""
    c: Any = object.__new__(SafeCommitConsumer)
    c._acked = defaultdict(list, {PARTITION: list(acked)})
    c._acked_index = defaultdict(set, {PARTITION: set(acked)})
    c._committed_offset = defaultdict(lambda: None, {PARTITION: committed})
    c._gap = defaultdict(IntervalTree)
    c._unacked_messages = [SimpleNamespace(tp=PARTITION, offset=o, acked=False) for o in held]
    return c


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


def test_an_event_the_stream_skipped_is_not_done_when_faust_acks_it() -> None:
    c = consumer(31, [], held=[])
    skipped = SimpleNamespace(tp=PARTITION, offset=31, acked=False, tracked=False)
    assert c.ack(skipped) is False
    assert c._acked[PARTITION] == []
    assert c._new_offset(PARTITION) is None


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

    def position(self, tp: TP) -> int | None:
        state = self.state.subscription.assignment.state_value(tp)
        return state.position if state.has_valid_position else None


def thread(partitions: Partitions, changelogs: set[str] = frozenset()) -> Any:
    t: Any = object.__new__(ConsumerThread)
    t._consumer = partitions
    t.consumer = SimpleNamespace(runs=FetchRuns())
    t.app = SimpleNamespace(tables=SimpleNamespace(changelog_topics=changelogs))
    return t


async def test_partitions_with_nothing_committed_are_rewound_with_a_position_at_once() -> None:
    fresh, used, log = TP("chat.started", 0), TP("chat.started", 1), TP("app-content-changelog", 0)
    partitions = Partitions({fresh: None, used: 40, log: None}, beginnings={fresh: 7, log: 0})
    committed = await thread(partitions, changelogs={log.topic})._seek_to_committed_or_beginning()

    assert committed == {fresh: None, used: 40, log: None}
    # aiokafka's `seek_to_beginning` would leave `fresh` without a position until the broker answers.
    assert partitions.position(fresh) == 7
    assert partitions.position(used) == 40
    assert partitions.position(log) is None  # changelogs are Faust's recovery's to position


async def test_a_partition_taken_by_a_rebalance_while_the_beginnings_are_asked_for_is_not_sought() -> None:
    kept, taken = TP("chat.started", 0), TP("chat.started", 1)
    partitions = Partitions({kept: None, taken: None}, beginnings={kept: 0, taken: 0}, taken={taken})
    await thread(partitions)._seek_to_committed_or_beginning()
    assert partitions.assignment() == {kept}
    assert partitions.position(kept) == 0


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

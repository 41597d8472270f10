"""The consumer never commits past an event it has not acked (Faust 0.15.3 does, in two cases)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from intervaltree import IntervalTree

from streams.consumer import SafeCommitConsumer

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

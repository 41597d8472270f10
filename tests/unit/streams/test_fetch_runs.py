"""Skipped offsets are told from seeks: a record fetched before a seek back never makes real events look skipped."""

from __future__ import annotations

from streams.fetch_runs import FetchRuns

P, Q = ("chat.started", 0), ("chat.started", 1)


def test_consecutive_records_skip_nothing_and_a_missing_offset_is_skipped() -> None:
    runs = FetchRuns()
    runs.sought(P, 10)
    mark = runs.mark()
    assert [runs.follow(P, offset, mark) for offset in (10, 11, 12)] == [range(0)] * 3
    assert runs.follow(P, 15, mark) == range(13, 15)  # 13 and 14 do not exist (transaction markers, compaction)


def test_offsets_missing_right_after_the_sought_one_are_skipped_too() -> None:
    runs = FetchRuns()
    runs.sought(P, 40)
    assert runs.follow(P, 42, runs.mark()) == range(40, 42)


def test_records_fetched_before_a_seek_back_make_no_real_event_look_skipped() -> None:
    # The rebalance that lost chats: records from the old position are handed over, the partition is sought
    # back to its committed offset, and only then are those records delivered.
    runs = FetchRuns()
    runs.sought(P, 100)
    before = runs.mark()
    assert runs.follow(P, 100, before) == range(0)
    runs.sought(P, 90)  # back to the committed offset
    assert runs.follow(P, 101, before) is None  # left for the seek; Faust: 91..100 "skipped", then dropped
    after = runs.mark()
    assert [runs.follow(P, offset, after) for offset in range(90, 102)] == [range(0)] * 12


def test_a_seek_of_one_partition_leaves_the_runs_of_the_others_alone() -> None:
    runs = FetchRuns()
    runs.sought(P, 0)
    runs.sought(Q, 0)
    mark = runs.mark()
    runs.follow(Q, 0, mark)
    runs.sought(P, 5)
    assert runs.follow(Q, 3, mark) == range(1, 3)


def test_a_revoked_partition_read_again_starts_a_run_of_its_own() -> None:
    runs = FetchRuns()
    runs.sought(P, 7)
    runs.follow(P, 7, runs.mark())
    runs.forget([P])
    assert runs.follow(P, 50, runs.mark()) == range(0)
    assert runs.follow(P, 52, runs.mark()) == range(51, 52)

"""The consumer's trail keeps a bounded recent past per partition and shows what concerns one event."""

from __future__ import annotations

from streams.trail import KEPT, NEAR, Trail


def test_the_steps_of_a_partition_near_an_offset_and_the_partition_wide_ones_are_shown_oldest_first() -> None:
    trail = Trail()
    trail.note("p0", "seek", 270, 4)
    trail.note("p0", "handed over", 274, 4)
    trail.note("p1", "handed over", 274, 4)  # another partition
    trail.note("p0", "handed over", 274 + NEAR + 1, 4)
    trail.note("p0", "revoked", None, 4)
    trail.note("p0", "committing", 200, 5)
    steps = [line.split(" ", 1)[1] for line in trail.around("p0", 274)]
    assert steps == [
        "generation 4 seek 270",
        "generation 4 handed over 274",
        "generation 4 revoked",
        "generation 5 committing 200",
    ]


def test_a_busy_partition_keeps_only_its_most_recent_steps() -> None:
    trail = Trail()
    for offset in range(KEPT + 10):
        trail.note("p0", "handed over", offset, 1)
    assert trail.around("p0", 5) == []
    assert [line.split()[-1] for line in trail.around("p0", KEPT + 9)] == [
        str(KEPT + 9 - i) for i in range(NEAR, -1, -1)
    ]


def test_of_the_commits_only_the_first_past_the_event_after_each_seek_and_the_last_are_shown() -> None:
    trail = Trail()
    trail.note("p0", "seek", 100, 1)
    for offset in (90, 98, 110, 120):  # the event at 100 done: committed past it at 110
        trail.note("p0", "committing", offset, 1)
    trail.note("p0", "committed offset recorded", 100, 1)  # and then its committed position went back
    trail.note("p0", "seek", 100, 2)
    for offset in (130, 140):
        trail.note("p0", "committing", offset, 2)
    steps = [line.split(" ", 1)[1] for line in trail.around("p0", 100)]
    assert steps == [
        "generation 1 seek 100",
        "generation 1 committing 98",  # near the event
        "generation 1 committing 110",
        "generation 1 committed offset recorded 100",
        "generation 2 seek 100",
        "generation 2 committing 130",
        "generation 2 committing 140",
    ]


def test_the_seek_that_explains_a_busy_partitions_events_is_kept_however_many_follow() -> None:
    trail = Trail()
    trail.note("p0", "seek", 0, 3)
    for offset in range(KEPT + 10):
        trail.note("p0", "handed over", offset, 3)
    assert trail.around("p0", KEPT + 9)[0].split(" ", 1)[1] == "generation 3 seek 0"

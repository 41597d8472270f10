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
    trail.note("p0", "commit", 200, 5)
    steps = [line.split(" ", 1)[1] for line in trail.around("p0", 274)]
    assert steps == [
        "generation 4 seek 270",
        "generation 4 handed over 274",
        "generation 4 revoked",
        "generation 5 commit 200",
    ]


def test_a_busy_partition_keeps_only_its_most_recent_steps() -> None:
    trail = Trail()
    for offset in range(KEPT + 10):
        trail.note("p0", "handed over", offset, 1)
    assert trail.around("p0", 5) == []
    assert [line.split()[-1] for line in trail.around("p0", KEPT + 9)] == [
        str(KEPT + 9 - i) for i in range(NEAR, -1, -1)
    ]

"""Votes are cast against the model that answered: a new active model starts every candidate's vote from zero, and a
restarted worker carries on the votes its run before reported."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.registry import ModelRef, Registry, WorkerFigures
from streams.engine.tallies import Tallies
from streams.registry.figures import ModelTally
from streams.registry.state import add, seed


def ref(model_id: str) -> ModelRef:
    return ModelRef(model_id=model_id, model=model_id, backend="onnx")


def test_a_new_active_model_forgets_the_votes_and_a_model_that_left_is_forgotten() -> None:
    tallies = Tallies()
    tallies.follow(Registry(revision=1, active=ref("a"), candidates=[ref("c")]))
    tallies.shown("c", 10)
    tallies.voted("c", "candidate")
    tallies.used("c", 1, 2, paired=True)
    tallies.follow(Registry(revision=2, active=ref("a"), candidates=[ref("c")]))
    assert (tallies["c"].interleaved, tallies["c"].interleave_wins) == (10, 1)  # same active: kept
    tallies.follow(Registry(revision=3, active=ref("b"), previous=ref("a"), candidates=[ref("c")]))
    assert (tallies["c"].interleaved, tallies["c"].interleave_wins) == (0, 0)
    assert tallies["c"].paired == 1  # shadow figures are the candidate's own
    tallies.follow(Registry(revision=4, active=ref("b"), previous=ref("a")))
    assert tallies["c"].paired == 0  # left the registry


def last_report(active: str, wins: int, revision: int = 2) -> WorkerFigures:
    tally = ModelTally()
    tally.interleaved = 40
    for _ in range(wins):
        tally.voted("candidate")
    tally.voted("active")
    figures = tally.figures(loaded=True, items=83, table_items=83)
    return WorkerFigures(
        worker="w1", at=datetime.now(UTC), registry_revision=revision, active=active, models={"c": figures}
    )


def test_a_restarted_worker_carries_on_the_votes_it_reported_and_keeps_them_past_the_next_registry_record() -> None:
    registry = add(seed(Registry(), ref("a")) or Registry(), ref("c"))
    tallies = Tallies()
    tallies.resume(registry, last_report("a", 7))
    assert (tallies["c"].interleaved, tallies["c"].interleave_wins, tallies["c"].interleave_losses) == (40, 7, 1)
    tallies.resume(registry, last_report("a", 7))  # once per run: a second read adds nothing
    assert tallies["c"].interleave_wins == 7
    tallies.voted("c", "candidate")
    tallies.follow(add(registry, ref("d")))  # another candidate added: the same active, the votes stay
    assert tallies["c"].interleave_wins == 8


def test_a_restarted_worker_starts_from_zero_votes_cast_against_another_model_or_before_the_candidate_was_added() -> (
    None
):
    registry = add(seed(Registry(), ref("a")) or Registry(), ref("c"))
    for last in (last_report("b", 7), last_report("a", 7, revision=1), None):
        tallies = Tallies()
        tallies.resume(registry, last)
        assert (tallies["c"].interleaved, tallies["c"].interleave_wins) == (0, 0)

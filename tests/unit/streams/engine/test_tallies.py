"""Votes are cast against the model that answered: a new active model starts every candidate's vote from zero."""

from __future__ import annotations

from schemas.registry import ModelRef, Registry
from streams.engine.tallies import Tallies


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

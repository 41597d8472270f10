"""The registry's changes: who answers after add, promote, rollback and retire, and what each refuses."""

from __future__ import annotations

import pytest

from schemas.registry import ModelRef, Registry
from streams.registry.state import Refused, add, promote, retire, rollback, seed


def ref(name: str) -> ModelRef:
    return ModelRef(model_id=f"{name}/onnx-fp32", model=name, backend="onnx")


L6, TUNED, L3 = ref("l6"), ref("tuned"), ref("l3")


def seeded() -> Registry:
    registry = seed(Registry(), L6)
    assert registry is not None
    return registry


def test_the_first_worker_seeds_an_empty_registry_and_later_ones_do_not() -> None:
    registry = seeded()
    assert (registry.revision, registry.active, registry.history[-1].action) == (1, L6, "seed")
    assert seed(registry, L3) is None  # a worker with another HELPSTREAM_MODEL follows the registry


def test_promote_makes_the_candidate_active_and_keeps_the_old_one_for_rollback() -> None:
    registry = promote(add(seeded(), TUNED), TUNED.model_id)
    assert (registry.active, registry.previous, registry.candidates) == (TUNED, L6, [])
    back = rollback(registry)
    assert (back.active, back.previous) == (L6, TUNED)
    assert [c.action for c in back.history] == ["seed", "add", "promote", "rollback"]
    assert back.revision == 4


def test_a_forced_promote_records_why() -> None:
    registry = promote(add(seeded(), TUNED), TUNED.model_id, forced_why="quality gate: too little feedback")
    assert registry.history[-1].forced and registry.history[-1].reason == "quality gate: too little feedback"


def test_promoting_again_keeps_the_older_previous_model_as_a_candidate_not_dropped() -> None:
    registry = promote(add(promote(add(seeded(), TUNED), TUNED.model_id), L3), L3.model_id)
    assert (registry.active, registry.previous, registry.candidates) == (L3, TUNED, [L6])
    assert {m.model_id for m in registry.live()} == {L3.model_id, TUNED.model_id, L6.model_id}


def test_retire_drops_a_model_but_never_the_active_one() -> None:
    registry = add(seeded(), TUNED)
    with pytest.raises(Refused, match="is the active model"):
        retire(registry, L6.model_id)
    retired = retire(registry, TUNED.model_id)
    assert retired.candidates == [] and retired.retired == [TUNED.model_id]
    assert add(retired, TUNED).retired == []  # added again: no longer retired


def test_what_cannot_be_done_is_refused_with_the_reason() -> None:
    with pytest.raises(Refused, match="already active"):
        add(seeded(), L6)
    with pytest.raises(Refused, match="not a candidate"):
        promote(seeded(), L3.model_id)
    with pytest.raises(Refused, match="no previous model"):
        rollback(seeded())

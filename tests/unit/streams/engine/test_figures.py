"""A worker whose model is still loading reports that it is starting: the coverage gate waits for it, and the votes
its run before cast carry on."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.registry import ModelRef, Registry, WorkerFigures
from streams.engine.figures import starting_figures
from streams.engine.tallies import Tallies
from streams.registry.figures import ModelTally, fresh, merge
from streams.registry.gates import promote_gates
from streams.registry.state import add, seed


def ref(model_id: str) -> ModelRef:
    return ModelRef(model_id=model_id, model=model_id, backend="onnx")


def ready_report(worker: str, registry: Registry, wins: int = 0) -> WorkerFigures:
    tally = ModelTally()
    tally.interleaved = 40
    for _ in range(wins):
        tally.voted("candidate")
    figures = tally.figures(loaded=True, items=83, table_items=83)
    return WorkerFigures(
        worker=worker,
        at=datetime.now(UTC),
        registry_revision=registry.revision,
        active="a",
        interleave_share=0.5,
        models={"a": ModelTally().figures(loaded=True, items=83, table_items=83), "c": figures},
    )


def test_a_starting_worker_holds_the_coverage_gate_and_keeps_the_votes_of_its_run_before() -> None:
    registry = add(seed(Registry(), ref("a")) or Registry(), ref("c"))
    tallies = Tallies()
    tallies.resume(registry, ready_report("w2", registry, wins=7))  # w2 restarted: its model is loading
    starting = starting_figures("w2", registry, tallies, interleave_share=0.5)

    assert starting.starting and starting.active == "a" and starting.active_ref is None  # follows it, answers nothing
    assert set(starting.models) == {"a", "c"}
    assert not any(f.loaded for f in starting.models.values())
    assert starting.models["c"].interleave_wins == 7

    now, w1 = datetime.now(UTC), ready_report("w1", registry)
    assert promote_gates(merge([w1], now, registry)["c"], len(fresh([w1], now)), 1000.0, interleaving=True)[0].passed
    reports = [w1, starting]  # as `promote` reads them: the group's workers are those that reported lately
    group = merge(reports, now, registry)["c"]
    coverage = promote_gates(group, len(fresh(reports, now)), 1000.0, interleaving=True)[0]
    assert not coverage.passed
    assert "1 of 2 workers" in coverage.detail
    assert group.tally.interleave_wins == 7  # counted once, from the report that replaced the one before

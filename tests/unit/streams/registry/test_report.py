"""What `helpstream model list` and `/models` show: each live model with its role, figures and a candidate's gates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.registry import ModelRef, Registry, WorkerFigures
from streams.cli.model import print_report
from streams.engine.figures import starting_figures
from streams.engine.tallies import Tallies
from streams.registry.channel import ControlState, ControlTopics
from streams.registry.figures import ModelTally
from streams.registry.report import models_report, still_needed
from streams.registry.state import add, seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACTIVE = ModelRef(model_id="l6/onnx-fp32", model="minilm-l6", backend="onnx")
CANDIDATE = ModelRef(model_id="tuned@1/onnx-fp32", model="/models/tuned", backend="onnx")


def control() -> ControlState:
    seeded = seed(Registry(), ACTIVE)
    assert seeded is not None
    active, candidate = ModelTally(), ModelTally()
    active.answered(5, [40] * 30)
    candidate.answered(6, [45] * 30)
    candidate.agreed(["a", "b", "c"], ["a", "c", "d"])
    figures = WorkerFigures(
        worker="w1:6066",
        at=NOW,
        registry_revision=2,
        active=ACTIVE.model_id,
        owns_content=True,
        models={
            ACTIVE.model_id: active.figures(loaded=True, items=83, table_items=83),
            CANDIDATE.model_id: candidate.figures(loaded=True, items=40, table_items=83),
        },
    )
    return ControlState(
        ControlTopics("models", "figures"), registry=add(seeded, CANDIDATE), figures={"w1:6066": figures}
    )


def test_the_report_puts_the_active_model_first_and_gives_each_candidate_its_gates() -> None:
    report = models_report(control(), 1000, NOW)
    active, candidate = report["models"]
    assert (active["role"], active["answering_workers"], "gates" in active) == ("active", 1, False)
    assert (candidate["role"], candidate["coverage"], candidate["scored"]) == (
        "candidate",
        pytest.approx(0.482, abs=1e-3),
        30,
    )
    assert [(g["name"], g["passed"]) for g in candidate["gates"]] == [
        ("coverage", False), ("latency", True), ("quality", False)
    ]  # fmt: skip
    assert [c["action"] for c in report["history"]] == ["seed", "add"]


def test_model_list_prints_one_row_per_model_and_the_gates(capsys: pytest.CaptureFixture[str]) -> None:
    print_report(models_report(control(), 1000, NOW))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "registry revision 2, 1 workers reporting"
    assert out[2].startswith("active     l6/onnx-fp32") and out[3].startswith("candidate  tuned@1/onnx-fp32")
    assert any(line.startswith("promote tuned@1/onnx-fp32: FAIL coverage: 40/83 items") for line in out)


def test_a_worker_still_loading_answers_with_nothing_and_holds_the_candidates_coverage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = control()
    tallies = Tallies()
    tallies.resume(state.registry, None)
    state.figures["w2:6066"] = starting_figures("w2:6066", state.registry, tallies, interleave_share=0.0).model_copy(
        update={"at": NOW}
    )
    report = models_report(state, 1000, NOW)
    active, candidate = report["models"]
    assert active["answering_workers"] == 1  # w2 follows the active model but answers nothing yet
    assert [w["starting"] for w in report["workers"]] == [False, True]
    coverage = next(g for g in candidate["gates"] if g["name"] == "coverage")
    assert not coverage["passed"] and "1 of 2 workers" in coverage["detail"]
    print_report(report)
    assert "2 workers reporting (1 still loading their models)" in capsys.readouterr().out


def test_retiring_the_previous_model_waits_for_workers_still_loading_and_an_answering_model_is_never_retired() -> None:
    state = control()
    registry = state.registry.model_copy(update={"previous": CANDIDATE, "candidates": []})
    working = {"worker": "w1", "active": ACTIVE.model_id, "starting": False}
    loading = {"worker": "w2", "active": ACTIVE.model_id, "starting": True}
    assert still_needed({"workers": [working]}, registry, CANDIDATE.model_id) is None
    assert "w2 still loading" in (still_needed({"workers": [working, loading]}, registry, CANDIDATE.model_id) or "")
    stuck = {"worker": "w3", "active": CANDIDATE.model_id, "starting": False}  # could not follow a forced promote
    assert "still answers chats on w3" in (still_needed({"workers": [stuck]}, registry, CANDIDATE.model_id) or "")
    assert (
        still_needed({"workers": [loading]}, state.registry, CANDIDATE.model_id) is None
    )  # a candidate: not a fallback

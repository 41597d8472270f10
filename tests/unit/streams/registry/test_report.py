"""What `helpstream model list` and `/models` show: each live model with its role, figures and a candidate's gates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.registry import ModelRef, Registry, WorkerFigures
from streams.cli.model import print_report
from streams.registry.channel import ControlState, ControlTopics
from streams.registry.figures import ModelTally
from streams.registry.report import models_report
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

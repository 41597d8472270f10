"""What a learning cycle does with the candidate's report: retire it when agents prefer the active model, promote it
(or leave it to an operator) when every gate passes, wait otherwise; and the figures the registry keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.registry import ModelRef, Registry
from streams.registry.state import add, promote, retire, seed
from streams.tune.learn import WEIGHTS, decide, demoted, tune_figures, unreferenced, verdict_figures


def entry(winner: str | None, *passed: bool) -> dict[str, Any]:
    names = ("coverage", "latency", "quality")
    return {
        "interleave_winner": winner,
        "gates": [{"name": n, "passed": p, "detail": ""} for n, p in zip(names, passed, strict=False)],
    }


@pytest.mark.parametrize(
    ("report", "mode", "decision"),
    [
        (entry("candidate", True, True, True), "auto", "promote"),
        (entry("candidate", True, True, True), "approve", "approve"),
        (entry("candidate", True, False, True), "auto", "wait"),  # wins, but over its latency budget
        (entry(None, True, True, False), "auto", "wait"),
        (entry("active", True, True, False), "auto", "retire"),
        (entry("active", True, True, False), "approve", "retire"),
        (entry(None), "auto", "wait"),  # no gates reported yet
        (entry(None, True, True, True), "auto", "wait"),  # the paired-MRR gate passes: not worse is not better
        ({**entry("active", True, True, False), "answering_workers": 1}, "auto", "wait"),
        ({**entry(None, True, True, False), "interleaved": 2999}, "auto", "wait"),
        ({**entry(None, True, True, False), "interleaved": 3000}, "auto", "give up"),  # as good as the active one
        ({**entry(None, True, True, False), "interleaved": 3000}, "approve", "give up"),
        ({**entry(None, True, True, False), "interleaved": 3000, "answering_workers": 1}, "auto", "wait"),
    ],
)
def test_the_decision_follows_the_verdict_and_the_gates(report: dict[str, Any], mode: str, decision: str) -> None:
    assert decide(report, mode, 3000) == decision


def test_the_history_keeps_the_tune_figures_before_and_after_and_the_votes() -> None:
    quality = {"top1": 0.81234, "top3": 0.95, "queries": 10}
    tuned = {
        "usage": {"chats": 900},
        "seconds": 400.0,
        "before": {"held-out chats": quality, "kept-out usage": quality},
        "written_model": {"held-out chats": {**quality, "top1": 0.9}},
    }
    figures = tune_figures(tuned, 500.0)
    assert figures["heldout_top1_before"] == 0.8123 and figures["heldout_top1_after"] == 0.9
    assert "usage_top1_after" not in figures and figures["cycle_s"] == 500.0 and figures["usage_chats"] == 900
    votes = verdict_figures({"interleaved": 300, "interleave_wins": 40, "interleave_losses": 12, "interleave_p": None})
    assert votes == {"interleaved": 300.0, "interleave_wins": 40.0, "interleave_losses": 12.0}


def test_learned_models_no_worker_may_load_are_removed_with_their_weights_wherever_workers_mount_them(
    tmp_path: Path,
) -> None:
    def learned(name: str) -> ModelRef:
        (tmp_path / name).mkdir()
        (tmp_path / f"{name}{WEIGHTS}").mkdir()
        return ModelRef(model_id=name, model=str(tmp_path / name), backend="onnx")

    active, previous, candidate, retired = (learned(f"learned-{n}") for n in ("1", "2", "3", "4"))
    active = active.model_copy(update={"model": "/mnt/where-workers-mount-it/learned-1"})
    (tmp_path / f"learned-5{WEIGHTS}").mkdir()  # weights whose export never got written
    (tmp_path / "lock").touch()
    registry = Registry(active=active, previous=previous, candidates=[candidate], retired=[retired.model_id])

    gone = unreferenced(tmp_path, registry)

    assert sorted(p.name for p in gone) == ["learned-4", f"learned-4{WEIGHTS}", f"learned-5{WEIGHTS}"]


def test_the_model_two_promotes_back_is_retired_before_a_third_cycle_whoever_added_it() -> None:
    def ref(model_id: str) -> ModelRef:
        return ModelRef(model_id=model_id, model=model_id, backend="onnx")

    registry = seed(Registry(), ref("base")) or Registry()
    for learned in ("learned-1", "learned-2"):
        registry = promote(add(registry, ref(learned)), learned)
    # The base model, seeded, not learned: it came back as a candidate and would be interleaved before any new one.
    assert [r.model_id for r in registry.candidates] == ["base"] and demoted(registry) == ["base"]
    again = add(retire(registry, "base"), ref("base"))  # an operator adds it again: it is being judged
    assert demoted(again) == []
    assert demoted(add(registry, ref("learned-3"))) == ["base"]

"""Figures per model: histograms merged across workers, quantiles, stale workers left out, and the promote gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.registry import ModelRef, Registry, WorkerFigures
from streams.registry.figures import ModelTally, forgettable, merge, quantile
from streams.registry.gates import MIN_PAIRED, promote_gates
from streams.registry.state import add, retire, seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def report(worker: str, tally: ModelTally, *, items: int = 83, age_s: float = 1, loaded: bool = True) -> WorkerFigures:
    figures = tally.figures(loaded=loaded, items=items, table_items=83)
    return WorkerFigures(
        worker=worker, at=NOW - timedelta(seconds=age_s), registry_revision=2, active="a", models={"c": figures}
    )


def test_a_quantile_of_a_histogram_lands_in_the_right_bucket() -> None:
    tally = ModelTally()
    tally.answered(4.0, [4.0] * 98 + [180.0, 180.0])
    assert 3 <= (quantile(tally.chat_ms, 0.5) or 0) <= 5
    assert 150 <= (quantile(tally.chat_ms, 0.99) or 0) <= 200
    assert quantile(ModelTally().chat_ms, 0.99) is None


def test_workers_figures_add_up_and_coverage_is_the_least_covered_workers() -> None:
    one, two = ModelTally(), ModelTally()
    one.answered(5, [20] * 10)
    two.answered(5, [20] * 30)
    one.agreed(["x", "y", "z"], ["x", "y", "w"])
    two.used(1, 2, paired=True)
    group = merge([report("w1", one), report("w2", two, items=80)], NOW)["c"]
    assert (group.workers, group.tally.scored, group.items, group.covered_everywhere) == (2, 40, 80, False)
    assert group.tally.top1_equal == 1 and group.tally.top3_overlap == pytest.approx(2 / 3)
    assert group.paired_mrr == (1.0, 0.5)


def test_a_worker_that_stopped_reporting_is_left_out() -> None:
    assert merge([report("gone", ModelTally(), age_s=120)], NOW) == {}


def test_promote_is_refused_until_coverage_latency_and_quality_all_pass() -> None:
    tally = ModelTally()
    tally.answered(5, [30] * 50)
    partial = merge([report("w1", tally, items=40)], NOW)["c"]
    assert [g.passed for g in promote_gates(partial, 1, 1000)] == [False, True, False]
    for _ in range(MIN_PAIRED):
        tally.used(1, 2, paired=True)
    ready = merge([report("w1", tally)], NOW)["c"]
    assert [g.passed for g in promote_gates(ready, 1, 1000)] == [True, True, True]
    assert [g.passed for g in promote_gates(ready, 1, 20)] == [True, False, True]  # p99 over the budget
    assert not promote_gates(ready, 2, 1000)[0].passed  # a second worker reports but has not loaded it


def test_a_candidate_the_agents_used_less_than_the_active_model_fails_the_quality_gate() -> None:
    tally = ModelTally()
    tally.answered(5, [30] * 50)
    for _ in range(MIN_PAIRED):
        tally.used(3, 1, paired=True)  # agents used what it ranked third and the active model first
    gates = promote_gates(merge([report("w1", tally)], NOW)["c"], 1, 1000)
    assert not gates[2].passed and "MRR 0.333 against the active model's 1.000" in gates[2].detail


def votes(wins: int, losses: int, misses: int = 0, *, shown: int = 400, workers: int = 2) -> list[WorkerFigures]:
    """The votes split across `workers` workers, as the group reports them."""
    reports = []
    for w in range(workers):
        tally = ModelTally()
        tally.answered(5, [30] * 50)
        tally.interleaved = shown // workers
        for vote, count in (("candidate", wins), ("active", losses), (None, misses)):
            for _ in range(count // workers + (w < count % workers)):
                tally.voted(vote)
        reports.append(report(f"w{w}", tally))
    return reports


def test_with_interleaving_the_quality_gate_passes_only_when_agents_prefer_the_candidate_with_confidence() -> None:
    won = promote_gates(merge(votes(80, 40, 12), NOW)["c"], 2, 1000)[2]
    assert won.passed and "agents prefer it" in won.detail and "80 times, the active model's 40" in won.detail
    lost = promote_gates(merge(votes(40, 80), NOW)["c"], 2, 1000)[2]
    assert not lost.passed and "agents prefer the active model" in lost.detail
    close = merge(votes(12, 8), NOW)["c"]
    gate = promote_gates(close, 2, 1000)[2]
    assert not gate.passed and "not decided" in gate.detail
    needed = close.chats_needed()
    assert needed is not None and f"about {needed} more interleaved chats" in gate.detail
    assert needed > 400  # 20 votes from 400 chats; a 60/40 split needs a few hundred votes


def test_paired_mrr_decides_only_where_nothing_was_interleaved() -> None:
    tally = ModelTally()
    tally.answered(5, [30] * 50)
    for _ in range(MIN_PAIRED):
        tally.used(3, 1, paired=True)  # the paired MRR says the active model is better...
    tally.interleaved = 200
    for _ in range(40):
        tally.voted("candidate")  # ...but agents shown both picked the candidate's
    gate = promote_gates(merge([report("w1", tally)], NOW)["c"], 1, 1000)[2]
    assert gate.passed and "interleaved" in gate.detail


def test_where_workers_interleave_the_paired_mrr_cannot_pass_quality_before_any_vote() -> None:
    tally = ModelTally()
    tally.answered(5, [30] * 50)
    for _ in range(MIN_PAIRED):
        tally.used(1, 2, paired=True)
    group = merge([report("w1", tally)], NOW)["c"]
    assert promote_gates(group, 1, 1000)[2].passed  # no worker interleaves: the paired MRR decides
    gate = promote_gates(group, 1, 1000, interleaving=True)[2]
    assert not gate.passed and "not decided" in gate.detail


CANDIDATE = ModelRef(model_id="c", model="c", backend="onnx")


def candidate_added() -> Registry:
    """Model `a` active (revision 1), candidate `c` added (revision 2): what `votes` reports on."""
    return add(seed(Registry(), ModelRef(model_id="a", model="a", backend="onnx")) or Registry(), CANDIDATE)


def test_a_departed_workers_votes_count_only_while_they_judge_the_same_candidate_against_the_same_active() -> None:
    added, candidate = candidate_added(), CANDIDATE
    running = votes(6, 2, workers=1)[0]
    gone = votes(70, 30, workers=1)[0].model_copy(update={"worker": "gone", "at": NOW - timedelta(minutes=10)})
    group = merge([running, gone], NOW, added)["c"]
    assert (group.tally.interleave_wins, group.tally.interleaved, group.departed, group.workers) == (76, 800, 1, 1)
    assert group.summary()["interleave_departed_workers"] == 1
    assert merge([running, gone], NOW)["c"].tally.interleave_wins == 6  # without the registry: running workers only
    again = add(retire(added, "c"), candidate)  # added again after that worker left: its votes judged the run before
    assert merge([running, gone], NOW, again)["c"].tally.interleave_wins == 6
    other = gone.model_copy(update={"active": "b"})
    assert merge([running, other], NOW, added)["c"].tally.interleave_wins == 6
    before = gone.model_copy(update={"registry_revision": 1})  # reported before it followed the add
    assert merge([running, before], NOW, added)["c"].tally.interleave_wins == 6


def test_a_departed_worker_that_showed_no_interleaving_is_not_counted_as_gone() -> None:
    added = candidate_added()
    running = votes(6, 2, workers=1)[0]
    idle = report("gone", ModelTally(), age_s=600)
    assert merge([running, idle], NOW, added)["c"].summary()["interleave_departed_workers"] == 0


def test_only_the_reports_of_workers_long_silent_whose_votes_no_longer_count_are_deleted() -> None:
    added = candidate_added()
    voted = votes(70, 30, workers=1)[0].model_copy(update={"worker": "gone-voted"})
    reports = {
        "self": report("self", ModelTally(), age_s=900),  # its own old report, while its model loads
        "running": report("running", ModelTally()),
        "just-stopped": report("just-stopped", ModelTally()),  # may be restarting: left alone
        "gone-idle": report("gone-idle", ModelTally()),
        "gone-voted": voted,
        # Made under a registry newer than the reader's: whether its votes hold is not the reader's to say.
        "gone-ahead": report("gone-ahead", ModelTally()).model_copy(update={"registry_revision": 3}),
    }
    silent = {"self": 900, "running": 1, "just-stopped": 60, "gone-idle": 600, "gone-voted": 3600, "gone-ahead": 600}
    assert forgettable(reports, added, silent, "self", 300) == ["gone-idle"]
    # Once the candidate is judged (retired, added again: revision 4), its votes judged the run before.
    again = add(retire(added, "c"), CANDIDATE)
    assert forgettable(reports, again, silent, "self", 300) == ["gone-idle", "gone-voted", "gone-ahead"]

"""The sign test decides only when agents' votes say so, and says how many more it needs."""

from __future__ import annotations

from streams.registry.verdict import Verdict


def test_the_sign_test_waits_for_enough_votes_and_then_names_the_winner() -> None:
    assert Verdict(6, 4).winner is None and Verdict(6, 4).votes_needed() is not None
    assert Verdict(60, 40).winner is None  # p = 0.057: a lead, not yet a verdict
    assert Verdict(65, 35).winner == "candidate" and Verdict(65, 35).votes_needed() == 0
    assert Verdict(35, 65).winner == "active"
    assert Verdict(0, 0).winner is None and Verdict(0, 0).interval() is None
    low, high = Verdict(60, 40).interval() or (0, 0)
    assert 0.5 < low < 0.6 < high < 0.7
    assert abs(Verdict(9, 1).p_value - 0.0215) < 0.001  # the exact binomial, two-sided

"""The interleaving evaluation's judge on rankings of known quality: a candidate that ranks the right response
first where the active model ranks it second wins; equal rankings give no votes; the paired-MRR gate beside it."""

from __future__ import annotations

from streams.bench.interleaving import judge


def test_a_candidate_that_ranks_the_right_response_higher_wins_and_identical_rankings_decide_nothing() -> None:
    truth = [f"i{n % 7}" for n in range(400)]
    active = [["x", t, "y"] for t in truth]
    better = [[t, "x", "y"] for t in truth]
    won = judge(active, better, truth, list(range(400)), seed=1)
    assert won.interleaved_winner == "candidate" and won.interleaved_chats < 100 and won.paired_passed
    same = judge(active, active, truth, list(range(400)), seed=1)
    assert same.interleaved_winner is None and same.votes == (0, 0)  # every used response was a tie
    lost = judge(better, active, truth, list(range(400)), seed=1)
    assert lost.interleaved_winner == "active" and not lost.paired_passed

"""The sequential sign test decides only when agents' votes say so, however often it is read, and says how many
more votes it needs."""

from __future__ import annotations

import math
import random

from streams.registry.verdict import ALPHA, Verdict


def test_a_clear_preference_is_named_and_a_lead_that_could_be_chance_is_not() -> None:
    assert Verdict(30, 10).winner == "candidate" and Verdict(30, 10).votes_needed() == 0
    assert Verdict(10, 30).winner == "active"
    assert Verdict(65, 35).winner is None  # a fixed-size test would call it; read again and again it could be chance
    assert Verdict(0, 0).winner is None and Verdict(0, 0).interval() is None and Verdict(0, 0).votes_needed() is None
    assert Verdict(50, 50).votes_needed() is None  # neither leads


def test_votes_needed_is_how_many_more_at_the_same_share_before_it_decides() -> None:
    needed = Verdict(13, 7).votes_needed()
    assert needed is not None and needed > 0
    total = 20 + needed
    wins = math.ceil(total * 0.65)
    assert Verdict(wins, total - wins).winner == "candidate"
    assert Verdict(13 + needed // 2, 7 + needed - needed // 2).winner is None  # half as many at a tie do not do


def test_the_interval_brackets_the_share_seen() -> None:
    low, high = Verdict(60, 40).interval() or (0, 0)
    assert 0.5 < low < 0.6 < high < 0.7


def test_between_two_equal_models_read_after_every_vote_it_names_a_winner_at_most_alpha_of_the_time() -> None:
    rng, runs, named = random.Random(7), 300, 0
    for _ in range(runs):
        wins = 0
        for n in range(1, 601):
            wins += rng.random() < 0.5
            if Verdict(wins, n - wins).winner is not None:
                named += 1
                break
    assert named / runs <= ALPHA + 0.03

"""Team-draft interleaving shows each model fairly and credits each item to the model that contributed it."""

from __future__ import annotations

import random
from collections import Counter

from agents.interleaving import team_draft


def test_the_list_has_k_distinct_items_each_credited_to_a_model_that_ranked_it() -> None:
    active, candidate = ["a", "b", "c", "d"], ["b", "e", "a", "f"]
    for seed in range(50):
        shown = team_draft(active, candidate, 3, random.Random(seed))
        items = [item for item, _ in shown]
        assert len(items) == 3 == len(set(items))
        assert all(item in (active if team == "active" else candidate) for item, team in shown)
        assert items[0] in ("a", "b")  # the top of one list or the other


def test_identical_rankings_show_the_same_list_and_neither_model_leads_on_position() -> None:
    firsts: Counter[str] = Counter()
    for seed in range(2000):
        shown = team_draft(["a", "b", "c"], ["a", "b", "c"], 3, random.Random(seed))
        assert [item for item, _ in shown] == ["a", "b", "c"]
        firsts[shown[0][1]] += 1
    assert abs(firsts["active"] - firsts["candidate"]) < 200  # a fair coin over 2,000 chats


def test_a_short_ranking_leaves_the_rest_to_the_other_model() -> None:
    shown = team_draft(["a"], ["b", "c", "d"], 3, random.Random(1))
    assert sorted(item for item, _ in shown) == ["a", "b", "c"]

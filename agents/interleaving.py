"""Team-draft interleaving (Radlinski, Kurup and Joachims, 2008): the list agents see on an interleaved chat mixes
the active model's ranking and a candidate's, each item credited to the model that contributed it, so the response
an agent uses is a vote for one of them (`streams.registry.verdict` judges the votes).

An item both models rank at the same position is credited to neither: which team drafted it was a coin, so a vote
for it is noise. The rule treats the two models alike, so between equal models the votes stay even, and a verdict
needs far fewer chats (`helpstream bench --interleaving` measures both)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

Team = Literal["active", "candidate"]


def tied(active: Sequence[str], candidate: Sequence[str], item: str) -> bool:
    """Both models rank `item` at the same position."""
    return item in active and item in candidate and list(active).index(item) == list(candidate).index(item)


def team_draft(active: Sequence[str], candidate: Sequence[str], k: int, rng: random.Random) -> list[tuple[str, Team]]:
    """At most `k` items, none twice; at each round the team with fewer picks (a coin when level) adds its highest
    ranked item not yet shown, so on average neither model is favoured by position."""
    shown: list[tuple[str, Team]] = []
    taken: set[str] = set()
    picks: dict[Team, int] = {"active": 0, "candidate": 0}
    rankings: dict[Team, Sequence[str]] = {"active": active, "candidate": candidate}

    def next_of(team: Team) -> str | None:
        return next((item for item in rankings[team] if item not in taken), None)

    while len(shown) < k:
        first: Team
        if picks["active"] != picks["candidate"]:
            first = "active" if picks["active"] < picks["candidate"] else "candidate"
        else:
            first = rng.choice(("active", "candidate"))
        second: Team = "candidate" if first == "active" else "active"
        for team in (first, second):
            item = next_of(team)
            if item is not None:
                shown.append((item, team))
                taken.add(item)
                picks[team] += 1
                break
        else:
            break  # both rankings used up
    return shown

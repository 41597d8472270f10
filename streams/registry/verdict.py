"""The verdict of interleaving on one candidate: a sequential sign test on agents' votes (a used response the
candidate contributed against one the active model contributed) says whether agents prefer one model, how sure
that is, and roughly how many more votes it needs when it cannot say yet.

The gate is looked at again and again as votes come (every `promote`, every `learn`), and a fixed-size test read
that way declares a winner between two equal models far more often than its level says. So the decision uses a
mixture sequential probability ratio test (Robbins' mixture, as in Johari et al., "Always valid inference",
2017): the likelihood of the votes under a uniform prior on the candidate's share, against a share of one half.
By Ville's inequality, the chance it ever reaches 1/ALPHA between equal models is at most ALPHA, however often
it is read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ALPHA = 0.05  # the chance, over any number of looks, of naming a winner between two equal models
Winner = Literal["active", "candidate"]
_MAX_VOTES = 1_000_000


def _log_ratio(wins: float, losses: float) -> float:
    """log of the mixture likelihood ratio: Beta(wins + 1, losses + 1) / (1/2)^(wins + losses)."""
    n = wins + losses
    return math.lgamma(wins + 1) + math.lgamma(losses + 1) - math.lgamma(n + 2) + n * math.log(2)


@dataclass(frozen=True)
class Verdict:
    """The candidate's votes against the active model's on interleaved chats (a used response neither contributed,
    a miss found by search, is no vote: a sign test leaves ties out)."""

    candidate_wins: int
    active_wins: int

    @property
    def decided(self) -> int:
        return self.candidate_wins + self.active_wins

    @property
    def share(self) -> float | None:
        """The candidate's share of the decided votes (0.5: no preference)."""
        return self.candidate_wins / self.decided if self.decided else None

    @property
    def p_value(self) -> float:
        """The always-valid p-value of no preference: 1 / the mixture likelihood ratio, at most 1."""
        return min(1.0, math.exp(-_log_ratio(self.candidate_wins, self.active_wins)))

    def interval(self, z: float = 1.96) -> tuple[float, float] | None:
        """Wilson 95% interval of the candidate's share (descriptive: the decision is the sequential test's)."""
        n, share = self.decided, self.share
        if share is None:
            return None
        centre = (share + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    @property
    def winner(self) -> Winner | None:
        if self.p_value >= ALPHA:
            return None
        return "candidate" if self.candidate_wins > self.active_wins else "active"

    def votes_needed(self) -> int | None:
        """How many more votes the test needs if they keep the share seen so far: 0 once it has decided, None
        while neither model leads."""
        if self.winner is not None:
            return 0
        share = self.share
        if share is None or share == 0.5:
            return None
        threshold = math.log(1 / ALPHA)

        def decides(n: int) -> bool:
            return _log_ratio(share * n, (1 - share) * n) >= threshold

        high = max(1, self.decided)
        while not decides(high):  # grows with n at a share away from one half: double, then halve the gap
            if high >= _MAX_VOTES:
                return None
            high *= 2
        low = high // 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if decides(middle) else (middle, high)
        return max(1, high - self.decided)

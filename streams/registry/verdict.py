"""The verdict of interleaving on one candidate: an exact sign test on agents' votes (a used response the candidate
contributed against one the active model contributed) says whether agents prefer one model, how sure that is, and
roughly how many more interleaved chats it needs when it cannot say yet."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ALPHA = 0.05  # a verdict is given when the sign test's two-sided p-value falls below this
Winner = Literal["active", "candidate"]


@dataclass(frozen=True)
class Verdict:
    """The candidate's votes against the active model's on interleaved chats (a used response neither contributed,
    a miss found by search, is no vote: the sign test leaves ties out)."""

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
        """Two-sided exact sign test of the votes against no preference."""
        n, low = self.decided, min(self.candidate_wins, self.active_wins)
        if n == 0:
            return 1.0
        tail = sum(math.comb(n, i) for i in range(low + 1)) / (1 << n)
        return min(1.0, 2 * tail)

    def interval(self, z: float = 1.96) -> tuple[float, float] | None:
        """Wilson 95% interval of the candidate's share."""
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

    def votes_needed(self, z: float = 1.96) -> int | None:
        """Roughly how many more decided votes the test needs at the share seen so far: 0 once it has decided,
        None while neither model leads."""
        if self.winner is not None:
            return 0
        share = self.share
        if share is None or share == 0.5:
            return None
        return max(1, math.ceil(z * z / 4 / (share - 0.5) ** 2) - self.decided)

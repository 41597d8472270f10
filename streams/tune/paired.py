"""Two models compared on the same queries: only the queries one gets right and the other does not tell them apart,
so the test is on those (McNemar's exact test)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """One model against another on the same queries."""

    queries: int
    only_this: int  # right for this model, wrong for the other
    only_that: int

    @property
    def difference(self) -> float:
        """This model's share right minus the other's."""
        return (self.only_this - self.only_that) / self.queries

    @property
    def p(self) -> float:
        """McNemar's exact test, a two-sided sign test: the chance of the discordant queries splitting at least this
        unevenly between equal models."""
        n, k = self.only_this + self.only_that, min(self.only_this, self.only_that)
        if n == 0:
            return 1.0
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / (1 << n))

    @property
    def interval(self) -> tuple[float, float]:
        """The difference's 95% interval: the paired difference's normal approximation with a continuity
        correction (Fleiss, Levin and Paik), which mostly agrees with the exact test where the plain one does not."""
        n, d = self.queries, self.only_this - self.only_that
        half = 1.96 * math.sqrt(self.only_this + self.only_that - d * d / n) / n + 1 / n
        return self.difference - half, self.difference + half


def paired(this: list[bool], that: list[bool]) -> Paired:
    """`this` and `that`: each model's hits on the same queries, in the same order."""
    if len(this) != len(that) or not this:
        raise ValueError("paired: both models' hits on the same, non-empty queries")
    return Paired(
        queries=len(this),
        only_this=sum(a and not b for a, b in zip(this, that, strict=True)),
        only_that=sum(b and not a for a, b in zip(this, that, strict=True)),
    )

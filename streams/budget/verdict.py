"""The verdicts: does a model x backend fit each pattern's budget, miss it (by how much), or not ship at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from streams.settings import Settings

Pattern = Literal["rest", "consumer", "cron"]
PATTERNS: tuple[Pattern, ...] = ("rest", "consumer", "cron")
FITS = "fits"
TOO_SLOW = "too big to be efficient"
TOO_BIG = "too big to ship"
UNAVAILABLE = "not available"


@dataclass(frozen=True)
class Budgets:
    search_p99_ms: float
    chat_p99_ms: float
    chat_rate: float
    reembed_s: float
    memory_mb: float

    @classmethod
    def of(cls, settings: Settings) -> Budgets:
        return cls(
            search_p99_ms=settings.budget_search_p99_ms,
            chat_p99_ms=settings.budget_chat_p99_ms,
            chat_rate=settings.budget_chat_rate,
            reembed_s=settings.budget_reembed_s,
            memory_mb=settings.budget_memory_mb,
        )


@dataclass(frozen=True)
class Verdict:
    outcome: str
    why: str = ""

    def __str__(self) -> str:
        return f"{self.outcome}: {self.why}" if self.why else self.outcome


def _over(name: str, value: float, limit: float, unit: str) -> str:
    return f"{name} {value:,.0f} {unit} > {limit:,.0f} {unit} ({value / limit:.1f}x)"


def verdicts(figures: dict[str, Any], budgets: Budgets) -> dict[Pattern, Verdict]:
    """One verdict per pattern from one model x backend's figures (`runner.measure`'s dict)."""
    if "unavailable" in figures:
        return dict.fromkeys(PATTERNS, Verdict(UNAVAILABLE, figures["unavailable"]))
    # Holding 100k vectors, or while re-embedding the demo export: torch's activations can peak above the index.
    memory = max(figures["ship"]["peak_rss_100k_mb"], figures["ship"].get("peak_rss_demo_mb", 0.0))
    if memory > budgets.memory_mb:
        limit = Verdict(TOO_BIG, _over("peak RSS", memory, budgets.memory_mb, "MB"))
        return dict.fromkeys(PATTERNS, limit)
    rest = figures["rest"]["lone_p99_ms"]
    out: dict[Pattern, Verdict] = {
        "rest": Verdict(TOO_SLOW, _over("search p99", rest, budgets.search_p99_ms, "ms"))
        if rest > budgets.search_p99_ms
        else Verdict(FITS),
        "cron": Verdict(TOO_SLOW, _over("re-embed", figures["cron"]["reembed_s"], budgets.reembed_s, "s"))
        if figures["cron"]["reembed_s"] > budgets.reembed_s
        else Verdict(FITS),
    }
    consumer = figures["consumer"]
    if consumer["chats_per_s"] < budgets.chat_rate:
        capacity = consumer["chats_per_s"]
        short = budgets.chat_rate / capacity
        out["consumer"] = Verdict(
            TOO_SLOW, f"capacity {capacity:,.0f} chats/s < {budgets.chat_rate:,.0f}/s ({short:.1f}x short)"
        )
    elif consumer["p99_ms_at_rate"] > budgets.chat_p99_ms:
        out["consumer"] = Verdict(
            TOO_SLOW, _over(f"p99 at {budgets.chat_rate:g}/s", consumer["p99_ms_at_rate"], budgets.chat_p99_ms, "ms")
        )
    else:
        out["consumer"] = Verdict(FITS)
    return {pattern: out[pattern] for pattern in PATTERNS}

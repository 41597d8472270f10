"""The verdicts: does a model x backend fit each pattern's budget, miss it (by how much), or not ship at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from streams.settings import Settings

Pattern = Literal["rest", "consumer", "cron"]
PATTERNS: tuple[Pattern, ...] = ("rest", "consumer", "cron")
FITS = "fits"
TOO_SLOW = "too big to be efficient"
PIPELINE = "the pipeline misses the budget, not the model"
# A miss is the model's when its own stages (its model calls) hold at least this share of the figure that misses.
MODEL_HOLDS = 0.5
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


def held_by(split: dict[str, float] | None, why: str) -> Verdict:
    """A miss, named the model's or the pipeline's from the stages of the figure that misses (`split`: stage →
    ms, with `model_share`, the model calls' share of the figure); without them it is charged to the model, as
    before stages were measured."""
    if not split:
        return Verdict(TOO_SLOW, why)
    share = split["model_share"]
    others = sorted(
        ((stage.removesuffix("_ms").replace("_", " "), ms) for stage, ms in split.items() if stage.endswith("_ms")),
        key=lambda item: -item[1],
    )
    shown = [(stage, ms) for stage, ms in others if stage not in ("total", "encode", "loop lag") and ms >= 0.5]
    stages = ", ".join(f"{stage} {_time(ms)}" for stage, ms in shown)
    model = _time(split.get("encode_ms", 0.0))
    if share >= MODEL_HOLDS:
        return Verdict(TOO_SLOW, f"{why}; the model's calls hold {share:.0%} of it ({model})")
    return Verdict(PIPELINE, f"{why}; the model's calls hold {share:.0%} ({model}), the rest: {stages}")


def _time(ms: float) -> str:
    return f"{ms / 1000:,.1f} s" if ms >= 10_000 else f"{ms:,.0f} ms"


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
    cron = figures["cron"]
    out: dict[Pattern, Verdict] = {
        "rest": held_by(
            figures["rest"].get("breakdown", {}).get("p99"), _over("search p99", rest, budgets.search_p99_ms, "ms")
        )
        if rest > budgets.search_p99_ms
        else Verdict(FITS),
        "cron": held_by(cron.get("breakdown"), _over("re-embed", cron["reembed_s"], budgets.reembed_s, "s"))
        if cron["reembed_s"] > budgets.reembed_s
        else Verdict(FITS),
    }
    consumer = figures["consumer"]
    if consumer["chats_per_s"] < budgets.chat_rate:
        capacity = consumer["chats_per_s"]
        short = budgets.chat_rate / capacity
        out["consumer"] = held_by(
            consumer.get("burst_breakdown"),
            f"capacity {capacity:,.0f} chats/s < {budgets.chat_rate:,.0f}/s ({short:.1f}x short)",
        )
    elif consumer["p99_ms_at_rate"] > budgets.chat_p99_ms:
        out["consumer"] = held_by(
            consumer.get("breakdown", {}).get("p99"),
            _over(f"p99 at {budgets.chat_rate:g}/s", consumer["p99_ms_at_rate"], budgets.chat_p99_ms, "ms"),
        )
    else:
        out["consumer"] = Verdict(FITS)
    return {pattern: out[pattern] for pattern in PATTERNS}

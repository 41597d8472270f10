"""Verdicts per pattern: fits, too big to be efficient (which budget, by how much), too big to ship."""

from __future__ import annotations

from typing import Any

from streams.budget.verdict import Budgets, verdicts

BUDGETS = Budgets(search_p99_ms=50, chat_p99_ms=1000, chat_rate=50, reembed_s=300, memory_mb=1024)


def figures(**changes: float) -> dict[str, Any]:
    values = {"rss": 600.0, "search": 12.0, "capacity": 400.0, "chat_p99": 80.0, "reembed": 20.0, **changes}
    return {
        "ship": {"peak_rss_100k_mb": values["rss"], "peak_rss_demo_mb": values["rss"] - 200},
        "rest": {"lone_p99_ms": values["search"]},
        "consumer": {"chats_per_s": values["capacity"], "p99_ms_at_rate": values["chat_p99"]},
        "cron": {"reembed_s": values["reembed"]},
    }


def test_a_small_model_fits_every_pattern() -> None:
    assert {str(v) for v in verdicts(figures(), BUDGETS).values()} == {"fits"}


def test_a_missed_budget_names_the_budget_and_the_ratio() -> None:
    out = verdicts(figures(search=120.0, reembed=900.0), BUDGETS)
    assert str(out["rest"]) == "too big to be efficient: search p99 120 ms > 50 ms (2.4x)"
    assert str(out["cron"]) == "too big to be efficient: re-embed 900 s > 300 s (3.0x)"
    assert str(out["consumer"]) == "fits"


def test_a_consumer_that_cannot_keep_up_is_judged_on_capacity_then_latency() -> None:
    slow = verdicts(figures(capacity=25.0, chat_p99=30_000.0), BUDGETS)["consumer"]
    assert str(slow) == "too big to be efficient: capacity 25 chats/s < 50/s (2.0x short)"
    late = verdicts(figures(chat_p99=1500.0), BUDGETS)["consumer"]
    assert str(late) == "too big to be efficient: p99 at 50/s 1,500 ms > 1,000 ms (1.5x)"


def test_memory_over_the_instance_limit_means_it_does_not_ship_for_any_pattern() -> None:
    out = verdicts(figures(rss=1300.0), BUDGETS)
    assert {str(v) for v in out.values()} == {"too big to ship: peak RSS 1,300 MB > 1,024 MB (1.3x)"}
    reembedding = figures()
    reembedding["ship"]["peak_rss_demo_mb"] = 1100.0  # torch's activations while re-embedding count too
    assert str(verdicts(reembedding, BUDGETS)["cron"]).startswith("too big to ship: peak RSS 1,100 MB")


def test_a_model_a_backend_cannot_run_is_marked_not_available() -> None:
    out = verdicts({"unavailable": "minilm-l3 ships as ONNX only"}, BUDGETS)
    assert str(out["rest"]) == "not available: minilm-l3 ships as ONNX only"

"""Verdicts per pattern: fits, too big to be efficient (which budget, by how much), too big to ship."""

from __future__ import annotations

from typing import Any

from streams.budget.verdict import PIPELINE, TOO_SLOW, Budgets, verdicts

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


def stages(total_ms: float, encode_ms: float, queue_ms: float) -> dict[str, float]:
    rest = total_ms - encode_ms - queue_ms
    return {
        "total_ms": total_ms,
        "broker_ms": rest,
        "queue_ms": queue_ms,
        "encode_ms": encode_ms,
        "loop_lag_ms": 3.0,
        "model_share": encode_ms / total_ms,
    }


def test_a_miss_the_models_calls_hold_is_the_models() -> None:
    late = figures(chat_p99=1500.0)
    late["consumer"]["breakdown"] = {"p99": stages(1500.0, encode_ms=1200.0, queue_ms=200.0)}
    verdict = verdicts(late, BUDGETS)["consumer"]
    assert verdict.outcome == TOO_SLOW
    assert str(verdict).endswith("(1.5x); the model's calls hold 80% of it (1,200 ms)")


def test_a_miss_the_pipeline_holds_names_its_largest_stages_first() -> None:
    late = figures(chat_p99=1500.0)
    late["consumer"]["breakdown"] = {"p99": stages(1500.0, encode_ms=100.0, queue_ms=1300.0)}
    verdict = verdicts(late, BUDGETS)["consumer"]
    assert verdict.outcome == PIPELINE
    assert str(verdict) == (
        "the pipeline misses the budget, not the model: p99 at 50/s 1,500 ms > 1,000 ms (1.5x); "
        "the model's calls hold 7% (100 ms), the rest: queue 1,300 ms, broker 100 ms"
    )


def test_a_slow_search_and_a_short_capacity_are_attributed_too() -> None:
    slow = figures(search=120.0, capacity=25.0)
    slow["rest"]["breakdown"] = {"p99": {"total_ms": 120.0, "encode_ms": 100.0, "http_ms": 20.0, "model_share": 0.83}}
    slow["consumer"]["burst_breakdown"] = {"total_ms": 40.0, "encode_ms": 12.0, "pipeline_ms": 28.0, "model_share": 0.3}
    out = verdicts(slow, BUDGETS)
    assert out["rest"].outcome == TOO_SLOW
    assert out["consumer"].outcome == PIPELINE and "pipeline 28 ms" in str(out["consumer"])


def test_a_slow_re_embed_is_told_in_seconds() -> None:
    slow = figures(reembed=900.0)
    slow["cron"]["breakdown"] = {
        "total_ms": 900_000.0,
        "encode_ms": 850_000.0,
        "pipeline_ms": 50_000.0,
        "model_share": 0.94,
    }
    assert str(verdicts(slow, BUDGETS)["cron"]).endswith("the model's calls hold 94% of it (850.0 s)")

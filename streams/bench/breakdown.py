"""Where a chat's end-to-end latency goes, at the p50 and the p99: the mean of each stage over the chats whose
latency is around that quantile, so the stages of a bar add up to about the quantile itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from schemas import ChatTimings, Recommendation

STAGES = ("broker", "queue", "batch_wait", "encode", "search", "build", "delivery")
MODEL_STAGES = ("encode",)  # the model's own time; every other stage is the pipeline's
# The chats averaged for a quantile: those ranked within this share of it on either side.
WINDOWS = {"p50": (0.45, 0.55), "p99": (0.985, 0.995)}

Ranked = TypeVar("Ranked")


@dataclass(frozen=True)
class Sample:
    """One chat as the bench's consumer saw it: end to end, the worker's stages, and the delivery after them
    (publish, the broker and the bench's fetch: receipt minus the recommendation's `created_at`)."""

    total_ms: float
    timings: ChatTimings
    delivery_ms: float

    def stages(self) -> dict[str, float]:
        return {
            **{s: getattr(self.timings, f"{s}_ms") for s in STAGES if s != "delivery"},
            "delivery": self.delivery_ms,
        }


def samples_of(received: dict[str, Recommendation], delivery_ms: dict[str, float]) -> list[Sample]:
    """The chats a replay received with `timings` on."""
    return [
        Sample(delivery_ms[chat_id] + rec.latency_ms, rec.timings, delivery_ms[chat_id])
        for chat_id, rec in received.items()
        if rec.timings is not None and chat_id in delivery_ms
    ]


def _window(ranked: Sequence[Ranked], low: float, high: float) -> Sequence[Ranked]:
    """The items ranked between the `low` and `high` shares (at least one)."""
    n = len(ranked)
    start = min(n - 1, math.floor(low * n))
    return ranked[start : max(start + 1, math.ceil(high * n))]


def breakdown(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Per quantile: `total_ms` (the window's mean latency), each stage's mean, the model's share of the total
    and the mean event-loop lag the window's chats saw. Empty without samples."""
    if not samples:
        return {}
    ranked = sorted(samples, key=lambda s: s.total_ms)
    out: dict[str, dict[str, float]] = {}
    for name, (low, high) in WINDOWS.items():
        window = _window(ranked, low, high)
        means = {stage: sum(s.stages()[stage] for s in window) / len(window) for stage in STAGES}
        total = sum(s.total_ms for s in window) / len(window)
        model = sum(means[stage] for stage in MODEL_STAGES)
        out[name] = {
            "total_ms": round(total, 2),
            **{f"{stage}_ms": round(ms, 2) for stage, ms in means.items()},
            "model_share": round(model / total, 3) if total else 0.0,
            "loop_lag_ms": round(sum(s.timings.loop_lag_ms for s in window) / len(window), 2),
            "chats": len(window),
        }
    return out


def busy_split(wall_s: float, encode_s: float, parallel: int, items: int) -> dict[str, float]:
    """A throughput figure's split (a burst, a re-embed): per item of its wall time, the model calls' time on
    `parallel` encoder threads and the rest; `model_share` is how busy the encoder threads were."""
    model_s = encode_s / max(1, parallel)
    share = min(1.0, model_s / wall_s) if wall_s > 0 else 0.0
    per_item = 1000 / max(1, items)
    return {
        "total_ms": round(wall_s * per_item, 3),
        "encode_ms": round(min(model_s, wall_s) * per_item, 3),
        "pipeline_ms": round(max(0.0, wall_s - model_s) * per_item, 3),
        "model_share": round(share, 3),
    }


def request_split(samples: list[tuple[float, dict[str, float]]], low: float, high: float) -> dict[str, float]:
    """Stages of requests timed by their client (`(took_ms, the response's timings)`): the window's means, with
    `http` the client's time outside the view's stages. Empty without samples."""
    if not samples:
        return {}
    window = _window(sorted(samples, key=lambda sample: sample[0]), low, high)
    stages = list(window[0][1])
    means = {stage: sum(t[stage] for _, t in window) / len(window) for stage in stages}
    total = sum(took for took, _ in window) / len(window)
    means["http_ms"] = max(0.0, total - sum(means.values()))
    return {
        "total_ms": round(total, 2),
        **{stage: round(ms, 2) for stage, ms in means.items()},
        "model_share": round(means.get("encode_ms", 0.0) / total, 3) if total else 0.0,
    }

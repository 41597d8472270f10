"""What the timeline costs one chat, timed in this process: the consumer's stamp, the stages built from the
answer's moments, eight histogram observations and the larger recommendation JSON, against the same
recommendation built and encoded without them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from agents.timeline import chat_timings, stamp, stamp_of
from index.serving import Moments
from schemas import ChatTimings, IndexWatermark, Recommendation, RecommendedItem, encode
from streams.web.metrics import Metrics

MODEL = "all-MiniLM-L6-v2/onnx-fp32"


def _recommendation(now: datetime, timings: ChatTimings | None) -> Recommendation:
    return Recommendation(
        chat_id="chat-1",
        items=[
            RecommendedItem(content_id=f"item-{i}", kind="saved_response", title="A title", score=0.5) for i in range(3)
        ],
        model=MODEL,
        index=IndexWatermark(items=83, table_items=83, changes=83, last_change="item-1@1"),
        created_at=now,
        latency_ms=12.5,
        timings=timings,
    )


def timeline_cost_us(repeats: int = 20_000) -> dict[str, float]:
    """Microseconds per chat with the timeline and without it, and the difference."""
    metrics = Metrics()
    now = datetime.now(UTC)
    created = now - timedelta(milliseconds=12.5)
    t = now.timestamp()
    moments = Moments(t - 0.008, t - 0.007, t - 0.002, t - 0.001)
    message = SimpleNamespace()
    started = time.perf_counter()
    for _ in range(repeats):
        encode(_recommendation(now, None))
    without = (time.perf_counter() - started) / repeats
    started = time.perf_counter()
    for _ in range(repeats):
        stamp(message, t - 0.01, 0.0)
        timings = chat_timings(created, stamp_of(message), t - 0.009, moments, t, 0.0)
        encode(_recommendation(now, timings))
        metrics.chat_stages(MODEL, timings, 0.002)
    with_timeline = (time.perf_counter() - started) / repeats
    return {
        "without_us": round(without * 1e6, 1),
        "with_us": round(with_timeline * 1e6, 1),
        "cost_us": round((with_timeline - without) * 1e6, 1),
    }

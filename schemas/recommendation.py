"""The `recommendations` event the support-agent UI subscribes to."""

from __future__ import annotations

from typing import Literal

from schemas.lineage import IndexWatermark
from schemas.timings import ChatTimings
from schemas.types import Contract, Identifier, Text, Timestamp


class RecommendedItem(Contract):
    content_id: Identifier
    kind: Literal["saved_response"]
    title: Text
    score: float
    # On an interleaved chat, the model that contributed the item: a response an agent uses is a vote for it
    # (None there: both models ranked it at this position, so using it says nothing about either).
    model: str | None = None


class Recommendation(Contract):
    chat_id: Identifier
    items: list[RecommendedItem]
    model: str
    # On an interleaved chat, the candidate whose ranking is interleaved with `model`'s (`model` still answered).
    candidate: str | None = None
    index: IndexWatermark
    created_at: Timestamp
    latency_ms: float
    timings: ChatTimings | None = None  # with HELPSTREAM_RECOMMENDATION_TIMINGS on

"""The response of `GET /search` on the customer's help screen."""

from __future__ import annotations

from schemas.lineage import IndexWatermark
from schemas.timings import SearchTimings
from schemas.types import Contract, Identifier, Kind, Text


class SearchResult(Contract):
    content_id: Identifier
    kind: Kind
    title: Text
    score: float


class SearchResponse(Contract):
    query: str
    results: list[SearchResult]
    model: str
    index: IndexWatermark
    took_ms: float
    timings: SearchTimings | None = None  # with HELPSTREAM_RECOMMENDATION_TIMINGS on

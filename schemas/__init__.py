"""Event and response contracts of helpstream: plain JSON records with validation, no I/O."""

from __future__ import annotations

from schemas.chat import ChatStarted
from schemas.codec import InvalidEvent, decode, encode
from schemas.content import ContentUpdated
from schemas.content_entry import ContentEntry
from schemas.dead_letter import DeadLetter
from schemas.feedback import RecommendationFeedback
from schemas.lineage import IndexWatermark
from schemas.recommendation import Recommendation, RecommendedItem
from schemas.search import SearchResponse, SearchResult
from schemas.timings import ChatTimings, SearchTimings
from schemas.usage import UsageExample

__all__ = [
    "ChatStarted",
    "ChatTimings",
    "ContentEntry",
    "ContentUpdated",
    "DeadLetter",
    "IndexWatermark",
    "InvalidEvent",
    "Recommendation",
    "RecommendationFeedback",
    "RecommendedItem",
    "SearchResponse",
    "SearchResult",
    "SearchTimings",
    "UsageExample",
    "decode",
    "encode",
]

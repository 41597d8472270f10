"""Exports every contract as a JSON Schema document (returned as data; the CLI writes the files)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.chat import ChatStarted
from schemas.content import ContentUpdated
from schemas.dead_letter import DeadLetter
from schemas.feedback import RecommendationFeedback
from schemas.recommendation import Recommendation
from schemas.search import SearchResponse
from schemas.usage import UsageExample

CONTRACTS: dict[str, type[BaseModel]] = {
    "chat.started": ChatStarted,
    "content.updated": ContentUpdated,
    "recommendations": Recommendation,
    "dead-letter": DeadLetter,
    "recommendation.feedback": RecommendationFeedback,
    "search-response": SearchResponse,
    "usage": UsageExample,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema of each contract, in the form other teams validate against."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="serialization" if name != "chat.started" else "validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://helpstream.dev/schemas/{name}.schema.json"
        out[f"{name}.schema.json"] = schema
    return out

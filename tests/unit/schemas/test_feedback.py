"""Feedback says where the used response came from: recommended at a rank, or found by search (a miss); the model
and the JSON Schema other teams validate with agree on every case."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from schemas import RecommendationFeedback

BASE = {"chat_id": "c-1", "content_id": "card_arrival", "action": "used", "at": "2026-12-04T10:00:00Z"}
SCHEMA = json.loads((importlib.resources.files("schemas") / "json" / "recommendation.feedback.schema.json").read_text())


@pytest.mark.parametrize(
    "event",
    [
        {**BASE, "rank": 2},  # before `source` existed: recommended
        {**BASE, "source": "recommended", "rank": 1},
        {**BASE, "source": "search"},
        {**BASE, "source": "recommended", "rank": 3, "action": "dismissed"},
    ],
)
def test_a_recommended_response_with_its_rank_and_a_found_one_without_are_accepted(event: dict[str, Any]) -> None:
    parsed = RecommendationFeedback.model_validate(event)
    assert (parsed.rank is None) == (parsed.source == "search")
    jsonschema.validate(event, SCHEMA)


@pytest.mark.parametrize(
    "event",
    [
        {**BASE, "source": "recommended"},
        {**BASE},
        {**BASE, "source": "search", "rank": 1},
        {**BASE, "source": "search", "action": "dismissed"},
    ],
)
def test_a_rank_that_does_not_match_the_source_is_refused_by_the_model_and_the_schema(event: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RecommendationFeedback.model_validate(event)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, SCHEMA)

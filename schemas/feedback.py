"""The `recommendation.feedback` event the agent console publishes when an agent uses a saved response: one of
the chat's recommendations (at its rank), or one found by searching the saved responses when none fitted (a miss,
the strongest signal of what the models should have ranked)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from schemas.types import Contract, Identifier, Timestamp

Action = Literal["used", "dismissed"]
Source = Literal["recommended", "search"]


class RecommendationFeedback(Contract):
    # The rule `_rank_matches_source` checks, for consumers validating with the JSON Schema.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"source": {"const": "search"}}, "required": ["source"]},
                    "then": {"properties": {"rank": {"type": "null"}, "action": {"const": "used"}}},
                    "else": {"properties": {"rank": {"type": "integer"}}, "required": ["rank"]},
                }
            ]
        }
    )

    chat_id: Identifier
    content_id: Identifier
    source: Source = Field(
        "recommended",
        description="recommended: one of the chat's recommendations, at `rank`; search: the agent found it by "
        "searching the saved responses (not recommended: a miss), used, with no rank",
    )
    rank: Annotated[int, Field(ge=1, le=50, strict=True)] | None = Field(
        None, description="1 for the top recommendation; required when recommended, absent when found by search"
    )
    action: Action
    agent: Identifier | None = Field(
        None, description="the signed-in agent (the OIDC subject) who gave it; the console always sets it"
    )
    at: Timestamp

    @model_validator(mode="after")
    def _rank_matches_source(self) -> RecommendationFeedback:
        if self.source == "recommended" and self.rank is None:
            raise ValueError("a recommended response needs its rank")
        if self.source == "search" and (self.rank is not None or self.action != "used"):
            raise ValueError("a response found by search has no rank and can only be used")
        return self

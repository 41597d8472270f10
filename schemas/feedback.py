"""The `recommendation.feedback` event the agent console publishes when an agent uses a recommended response."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.types import Contract, Identifier, Timestamp

Action = Literal["used", "dismissed"]


class RecommendationFeedback(Contract):
    chat_id: Identifier
    content_id: Identifier
    rank: Annotated[int, Field(ge=1, le=50, strict=True, description="1 for the top recommendation")]
    action: Action
    agent: Identifier | None = Field(
        None, description="the signed-in agent (the OIDC subject) who gave it; the console always sets it"
    )
    at: Timestamp

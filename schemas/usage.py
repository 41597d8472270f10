"""The `helpstream.usage` event: a response an agent used, joined in the stream with what the customer wrote (its
personal data masked) and what the agent was shown. One training example per chat, kept as long as chats are."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.feedback import Source
from schemas.types import Contract, Identifier, Text, Timestamp


class UsageExample(Contract):
    chat_id: Identifier
    text: Text = Field(description="the customer's first message, personal data masked")
    content_id: Identifier = Field(description="the saved response the agent used: the label")
    source: Source = Field(description="recommended: used from the list shown; search: found by search (a miss)")
    rank: Annotated[int, Field(ge=1, le=50, strict=True)] | None = Field(
        None, description="where the list showed it, 1 for the top; none when found by search"
    )
    shown: list[Identifier] = Field(description="the saved responses the agent was shown, in order")
    model: str = Field(description="the model that answered the chat")
    candidate: str | None = Field(None, description="on an interleaved chat, the candidate mixed in")
    agent: Identifier | None = None
    at: Timestamp = Field(description="when the agent used it")

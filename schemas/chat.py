"""The `chat.started` event the chat platform emits when a customer opens a chat."""

from __future__ import annotations

from schemas.types import Contract, Identifier, Text, Timestamp


class ChatStarted(Contract):
    chat_id: Identifier
    customer_id: Identifier | None = None
    text: Text
    created_at: Timestamp

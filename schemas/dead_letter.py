"""The dead-letter record: a malformed event, why it was rejected, and its original bytes."""

from __future__ import annotations

from schemas.types import B64Bytes, Contract, Timestamp


class DeadLetter(Contract):
    source_topic: str
    partition: int
    offset: int
    reason: str
    key_b64: B64Bytes | None
    value_b64: B64Bytes | None
    received_at: Timestamp

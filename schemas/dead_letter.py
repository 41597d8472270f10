"""The dead-letter record: a rejected event, why it was rejected, where it came from, and its original bytes with
customers' personal data masked (`schemas.pii`): people read dead letters, and keep them for weeks.

Originals are kept up to `MAX_ORIGINAL_BYTES` each (key and value), with their full size, so that a
dead letter always fits in one Kafka message whatever the event that caused it: a 1 MB event the broker accepted
must not produce a 1.33 MB dead letter that the broker refuses.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Self

from pydantic import Field

from schemas.pii import mask, mask_bytes
from schemas.types import B64Bytes, Contract, Timestamp

MAX_ORIGINAL_BYTES = 64 * 1024
MAX_REASON_CHARS = 2000


class DeadLetter(Contract):
    source_topic: str
    partition: int
    offset: int
    reason: Annotated[str, Field(max_length=MAX_REASON_CHARS)]
    key_b64: B64Bytes | None = Field(
        description=f"the original key, its first {MAX_ORIGINAL_BYTES} bytes, personal data masked"
    )
    key_size: int | None = None
    key_truncated: bool = False
    value_b64: B64Bytes | None = Field(
        description=f"the original value, its first {MAX_ORIGINAL_BYTES} bytes, personal data masked"
    )
    value_size: int | None = None
    value_sha256: str | None = Field(None, description="SHA-256 of what `value_b64` keeps, hex")
    value_truncated: bool = False
    received_at: Timestamp

    @classmethod
    def of(
        cls,
        *,
        source_topic: str,
        partition: int,
        offset: int,
        reason: str,
        key: bytes | None,
        value: bytes | None,
        received_at: datetime,
    ) -> Self:
        kept = None if value is None else mask_bytes(value, MAX_ORIGINAL_BYTES)
        return cls(
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            reason=_short(mask(reason)),
            key_b64=None if key is None else mask_bytes(key, MAX_ORIGINAL_BYTES),
            key_size=None if key is None else len(key),
            key_truncated=key is not None and len(key) > MAX_ORIGINAL_BYTES,
            value_b64=kept,
            value_size=None if value is None else len(value),
            # Of the original it would let anyone who reads the letter try the masked digits until it matches.
            value_sha256=None if kept is None else hashlib.sha256(kept).hexdigest(),
            value_truncated=value is not None and len(value) > MAX_ORIGINAL_BYTES,
            received_at=received_at,
        )


def _short(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"

"""Bytes ⇄ contract records with orjson; a rejected payload raises `InvalidEvent` with a readable reason."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from schemas.types import MAX_EVENT_BYTES

Model = TypeVar("Model", bound=BaseModel)

_MAX_ERRORS_IN_REASON = 3


class InvalidEvent(ValueError):
    """A payload that does not meet its contract; `str()` says why in one line."""


def decode(model: type[Model], raw: bytes | None, *, max_bytes: int = MAX_EVENT_BYTES) -> Model:
    if raw is None:
        raise InvalidEvent("empty value")
    if len(raw) > max_bytes:
        raise InvalidEvent(f"event is {len(raw):,} bytes, over the limit of {max_bytes:,} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from None


def encode(record: BaseModel) -> bytes:
    return orjson.dumps(record.model_dump(mode="json"))


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:_MAX_ERRORS_IN_REASON]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - _MAX_ERRORS_IN_REASON
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)

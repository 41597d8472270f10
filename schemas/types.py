"""Field types shared by the contracts: bounded strings, enums and ISO-8601 UTC timestamps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

# Every input is bounded, so that one event can neither exhaust a worker nor produce an output too large to send.
MAX_EVENT_BYTES = 1024 * 1024  # a whole event, before it is parsed
MAX_TEXT_CHARS = 4000  # a chat's text, a search query
MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 300
MAX_BODY_CHARS = 20_000
MAX_QUERY_CHARS = 1000  # one example query of a content item

Kind = Literal["saved_response", "help_article"]
KINDS: tuple[Kind, ...] = get_args(Kind)
Op = Literal["upsert", "delete"]

Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
Body = Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)]
ExampleQuery = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]


def format_timestamp(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, the form every contract uses."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[AwareDatetime, PlainSerializer(format_timestamp, return_type=str)]


def _from_base64(value: object) -> object:
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


# bytes in Python, a base64 string in JSON (and accepted as either on input).
B64Bytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda value: base64.b64encode(value).decode("ascii"), return_type=str, when_used="json"),
]


class Contract(BaseModel):
    """Base of every contract: unknown fields are ignored, values are never silently coerced to str."""

    model_config = ConfigDict(extra="ignore", frozen=True)

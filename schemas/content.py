"""The `content.updated` event the CMS emits on every create, edit or delete of a content item."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from schemas.types import Body, Contract, ExampleQuery, Identifier, Kind, Op, Timestamp, Title

MAX_EXAMPLE_QUERIES = 500
MAX_TAGS = 50


class ContentUpdated(Contract):
    content_id: Identifier
    op: Op
    version: Annotated[int, Field(ge=0, strict=True)]
    kind: Kind | None = None
    title: Title | None = None
    body: Body | None = None
    tags: Annotated[list[Identifier], Field(max_length=MAX_TAGS)] = Field(default_factory=list)
    example_queries: Annotated[list[ExampleQuery], Field(max_length=MAX_EXAMPLE_QUERIES)] = Field(default_factory=list)
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _upsert_is_complete(self) -> Self:
        if self.op == "upsert":
            missing = [name for name in ("kind", "title", "body") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"an upsert needs {', '.join(missing)}")
        return self

    def texts(self) -> list[str]:
        """The texts indexed for this item: title and body together, then each example query."""
        if self.op == "delete":
            return []
        return [f"{self.title}. {self.body}", *self.example_queries]

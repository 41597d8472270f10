"""Which index state computed an answer: carried by every recommendation and search response."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.types import Contract


class IndexWatermark(Contract):
    """The content-table state of the model's index when it answered."""

    items: Annotated[int, Field(ge=0, description="content items the model's index held")]
    table_items: Annotated[int, Field(ge=0, description="live content items in the content table")]
    changes: Annotated[int, Field(ge=0, description="table rows applied to this worker's index since it started")]
    last_change: str | None = Field(None, description="the last row applied, as content_id@version")

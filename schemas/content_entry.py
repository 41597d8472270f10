"""A content item as the replicated content-vectors table stores it: metadata plus its vectors."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.types import B64Bytes, Contract, Identifier, Kind, Text

PREVIEW_CHARS = 200  # of the body, shown by the agent console


class ContentEntry(Contract):
    """One row of the content-vectors table; `deleted` rows keep the version so a stale upsert stays ignored.

    `vectors` holds `len(text_hashes)` rows of `dtype` (float16 by default: half the changelog and the
    replicated table's memory; cosine error below 1e-3), produced by the encoder named in `model`.
    """

    content_id: Identifier
    version: Annotated[int, Field(ge=0)]
    model: str
    deleted: bool = False
    kind: Kind | None = None
    # Text, not Title: rows written before titles were bounded to 300 characters must still be read.
    title: Text | None = None
    preview: Annotated[str, Field(max_length=PREVIEW_CHARS)] | None = None
    text_hashes: list[str] = Field(default_factory=list)
    dtype: Literal["float16", "float32"] = "float16"
    vectors: B64Bytes = b""

"""A content item as the replicated content-vectors table stores it: its texts, metadata and vectors per model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from schemas.types import MAX_BODY_CHARS, MAX_TITLE_CHARS, B64Bytes, Contract, Identifier, Kind, Text

PREVIEW_CHARS = 200  # of the body, shown by the agent console
# A stored text is what a model embeds: "title. body" or one example query.
StoredText = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS + MAX_BODY_CHARS + 2)]


class ModelVectors(Contract):
    """One model's vectors of an item: a row of `dtype` per stored text (float16 by default: half the changelog
    and the replicated table's memory; cosine error below 1e-3)."""

    dtype: Literal["float16", "float32"] = "float16"
    data: B64Bytes

    @classmethod
    def of(cls, vectors: np.ndarray) -> ModelVectors:
        return cls(data=np.ascontiguousarray(vectors, dtype=np.float16).tobytes())

    def rows(self, count: int) -> np.ndarray:
        return np.frombuffer(self.data, dtype=self.dtype).reshape(count, -1).astype(np.float32)


class ContentEntry(Contract):
    """One row of the content-vectors table; `deleted` rows keep the version so a stale upsert stays ignored.

    `texts` are what every model embeds, so a model added later is backfilled from the table alone; `vectors`
    maps a model id to that model's vectors of exactly these texts (one row per text, in order).
    """

    content_id: Identifier
    version: Annotated[int, Field(ge=0)]
    deleted: bool = False
    kind: Kind | None = None
    # Text, not Title: rows written before titles were bounded to 300 characters must still be read.
    title: Text | None = None
    preview: Annotated[str, Field(max_length=PREVIEW_CHARS)] | None = None
    texts: list[StoredText] = Field(default_factory=list)
    text_hashes: list[str] = Field(default_factory=list)
    vectors: dict[str, ModelVectors] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _one_model_rows(cls, data: Any) -> Any:
        """Rows written before vectors were kept per model: `model`, `dtype` and `vectors` (bytes) at the top,
        and no texts (such an item is backfilled only once the CMS publishes it again)."""
        if isinstance(data, dict) and "model" in data and not isinstance(data.get("vectors"), dict):
            data = dict(data)
            model, dtype, vectors = data.pop("model"), data.pop("dtype", "float16"), data.pop("vectors", b"")
            data["vectors"] = {model: {"dtype": dtype, "data": vectors}} if vectors else {}
        return data

    @property
    def live(self) -> bool:
        return not self.deleted

    def rows_of(self, model_id: str) -> np.ndarray | None:
        """This model's vectors as float32 rows, or None when the row holds none of it."""
        stored = self.vectors.get(model_id)
        return None if stored is None or not self.text_hashes else stored.rows(len(self.text_hashes))

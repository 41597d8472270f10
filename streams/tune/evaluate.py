"""Quality as the product sees it: the content's texts in the product's index, queries searched as chats are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from index.encoder import Vectors
from index.vector_index import VectorIndex
from schemas import ContentUpdated

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Encode = Callable[[list[str]], Vectors]


def torch_encode(model: SentenceTransformer) -> Encode:
    """`model`'s unit vectors, as the product's encoders give them: what training and its figures embed with."""

    def encode(texts: list[str]) -> Vectors:
        vectors = model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    return encode


@dataclass(frozen=True)
class Quality:
    queries: int
    top1: float
    top3: float

    def __str__(self) -> str:
        return f"top-1 {self.top1:.2%}  top-3 {self.top3:.2%}  ({self.queries} queries)"


def item_vectors(encode: Encode, content: list[ContentUpdated], kind: str) -> dict[str, Vectors]:
    """Each item of `kind` with every text embedded: its own rows in the product's index, a usage memory aside."""
    items = [c for c in content if c.op == "upsert" and c.kind == kind]
    vectors = encode([text for item in items for text in item.texts()])
    bounds = np.cumsum([0, *(len(item.texts()) for item in items)])
    return {item.content_id: vectors[start:end] for item, start, end in zip(items, bounds, bounds[1:], strict=False)}


def content_index(
    encode: Encode, content: list[ContentUpdated], kind: str, memory: Mapping[str, Vectors] | None = None
) -> VectorIndex:
    """The items of `kind` with every text embedded and the model's usage memory, as the product's index holds
    them."""
    memory = memory or {}
    own = item_vectors(encode, content, kind)
    index: VectorIndex | None = None
    for item in (c for c in content if c.op == "upsert" and c.kind == kind):
        rows = own[item.content_id]
        if item.content_id in memory:
            rows = np.vstack([rows, memory[item.content_id]])
        if index is None:
            index = VectorIndex(rows.shape[1])
        index.upsert(item.content_id, kind, item.title or item.content_id, rows)
    if index is None:
        raise ValueError(f"no item of kind {kind} in the content")
    return index


@dataclass(frozen=True)
class Hits:
    """Per query, in order: is its item the first found, is it among the first three."""

    first: list[bool]
    three: list[bool]

    def quality(self) -> Quality:
        return Quality(len(self.first), float(np.mean(self.first)), float(np.mean(self.three)))


def hits(
    encode: Encode,
    content: list[ContentUpdated],
    queries: list[tuple[str, str]],
    kind: str,
    memory: Mapping[str, Vectors] | None = None,
) -> Hits:
    """Each query's item among the first three distinct items of `kind` found for it (each item scored by its
    best-matching text or memory vector, as `/search` and the chat agent do)."""
    found = content_index(encode, content, kind, memory).search(encode([q for q, _ in queries]), 3, kind)
    return Hits(
        first=[bool(h) and h[0].content_id == item for h, (_, item) in zip(found, queries, strict=True)],
        three=[item in {x.content_id for x in h} for h, (_, item) in zip(found, queries, strict=True)],
    )


def quality(
    encode: Encode,
    content: list[ContentUpdated],
    queries: list[tuple[str, str]],
    kind: str,
    memory: Mapping[str, Vectors] | None = None,
) -> Quality:
    """Top-1 / top-3 of `hits`."""
    return hits(encode, content, queries, kind, memory).quality()

"""Quality as the product sees it: the content's texts in the product's index, queries searched as chats are; and
two models compared on the same queries."""

from __future__ import annotations

import math
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


def content_index(
    encode: Encode, content: list[ContentUpdated], kind: str, memory: Mapping[str, Vectors] | None = None
) -> VectorIndex:
    """The items of `kind` with every text embedded and the model's usage memory, as the product's index holds
    them."""
    memory = memory or {}
    items = [c for c in content if c.op == "upsert" and c.kind == kind]
    vectors = encode([text for item in items for text in item.texts()])
    index = VectorIndex(vectors.shape[1])
    start = 0
    for item in items:
        end = start + len(item.texts())
        rows = vectors[start:end]
        if item.content_id in memory:
            rows = np.vstack([rows, memory[item.content_id]])
        index.upsert(item.content_id, kind, item.title or item.content_id, rows)
        start = end
    return index


@dataclass(frozen=True)
class Hits:
    """Per query, in order: is its item the first found, is it among the first three."""

    first: list[bool]
    three: list[bool]


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
    found = hits(encode, content, queries, kind, memory)
    return Quality(len(queries), float(np.mean(found.first)), float(np.mean(found.three)))


@dataclass(frozen=True)
class Paired:
    """One model against another on the same queries. Only the queries one gets right and the other does not tell
    them apart, so the test is on those: McNemar's exact test, a two-sided sign test."""

    queries: int
    only_this: int  # right for this model, wrong for the other
    only_that: int

    @property
    def difference(self) -> float:
        """This model's share right minus the other's."""
        return (self.only_this - self.only_that) / self.queries

    @property
    def p(self) -> float:
        """The chance of discordant queries splitting at least this unevenly between equal models."""
        n, k = self.only_this + self.only_that, min(self.only_this, self.only_that)
        if n == 0:
            return 1.0
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / (1 << n))

    @property
    def interval(self) -> tuple[float, float]:
        """The difference's 95% interval: the paired difference's normal approximation with a continuity
        correction (Fleiss, Levin and Paik), which keeps it from excluding zero where the exact test does not."""
        n, d, discordant = self.queries, self.only_this - self.only_that, self.only_this + self.only_that
        if discordant == 0:
            return 0.0, 0.0
        half = 1.96 * math.sqrt(max(0.0, discordant - d * d / n)) / n + 1 / n
        return self.difference - half, self.difference + half


def paired(this: list[bool], that: list[bool]) -> Paired:
    """`this` and `that`: each model's hits on the same queries, in the same order."""
    if len(this) != len(that) or not this:
        raise ValueError("paired: both models' hits on the same, non-empty queries")
    return Paired(
        queries=len(this),
        only_this=sum(a and not b for a, b in zip(this, that, strict=True)),
        only_that=sum(b and not a for a, b in zip(this, that, strict=True)),
    )

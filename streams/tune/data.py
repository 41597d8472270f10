"""The tuning data: each saved response's example queries, a seeded slice of them kept out for evaluation, and the
held-out chats every figure is reported on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from schemas import ContentUpdated
from schemas.pii import mask
from streams.clients.publish import read_chats
from streams.demo.datasets import demo_chats

KIND = "saved_response"


@dataclass(frozen=True)
class Split:
    """Example queries by item: `train` to learn from, `kept_out` never seen in training."""

    train: dict[str, list[str]]
    kept_out: dict[str, list[str]]

    def every_query(self) -> dict[str, list[str]]:
        """Both parts together: what the final model learns from once the slice has chosen the recipe's mix."""
        return {item: queries + self.kept_out.get(item, []) for item, queries in self.train.items()}

    def kept_out_queries(self) -> list[tuple[str, str]]:
        """(query, content id) pairs of the kept-out slice."""
        return [(q, item) for item, queries in self.kept_out.items() for q in queries]


def split(content: list[ContentUpdated], kept_out: float, seed: int) -> Split:
    """Per item, `kept_out` of its example queries, chosen by a seeded hash of the text (stable across runs
    and machines, independent of file order); at least one query of every item stays in training."""
    train: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    for item in content:
        if item.op != "upsert" or item.kind != KIND or not item.example_queries:
            continue
        ranked = sorted(item.example_queries, key=lambda q: _rank(q, seed))
        n_out = min(round(len(ranked) * kept_out), len(ranked) - 1)
        held[item.content_id] = ranked[:n_out]
        train[item.content_id] = ranked[n_out:]
    return Split(train, held)


def _rank(text: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}:{text}".encode()).digest()


def without_kept_out(content: list[ContentUpdated], data: Split) -> list[ContentUpdated]:
    """The content as the index would hold it if the kept-out queries had never been written."""
    out = []
    for item in content:
        if item.content_id in data.kept_out:
            held = set(data.kept_out[item.content_id])
            item = item.model_copy(update={"example_queries": [q for q in item.example_queries if q not in held]})
        out.append(item)
    return out


def held_out_chats(ids: set[str], path: Path | None = None) -> list[tuple[str, str]]:
    """(masked text, content id) of the labelled chats at `path` (the demo's held-out chats by default) whose
    saved response is one of `ids`: customers' words, read with their personal data masked as the model serves them."""
    return [(mask(c.text), c.intent) for c in read_chats(path or demo_chats()) if c.intent in ids]

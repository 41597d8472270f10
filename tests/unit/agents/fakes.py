"""Stand-ins for what the agents are given (`agents.ports`): no broker, no model, no Redis."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from index.batcher import Lane
from index.encoder import Vectors
from index.vector_index import Hit
from schemas import Recommendation
from tests.unit.index.fakes import vector


def event(value: bytes | None, *, topic: str = "chat.started", offset: int = 0, key: bytes | None = b"k") -> Any:
    """What the handlers read of a Faust event: its message's topic, partition, offset, key and value."""
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=0, offset=offset, key=key, value=value))


@dataclass
class Sent:
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] | None


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def send(
        self, *, key: bytes | None = None, value: bytes | None = None, headers: Mapping[str, bytes] | None = None
    ) -> Awaitable[Any]:
        self.sent.append(Sent(key, value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeSearcher:
    """Answers each text with `hits` fixed saved responses, scored by position."""

    def __init__(self, titles: list[str], *, poison: str | None = None, broken: bool = False) -> None:
        self.titles = titles
        self.poison = poison
        self.broken = broken
        self.queries: list[tuple[list[str], int, str, Lane]] = []

    async def healthy(self) -> bool:
        return not self.broken

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> list[list[Hit]]:
        self.queries.append((texts, k, kind, lane))
        if self.broken or self.poison in texts:
            raise RuntimeError("tokenizer exploded")
        return [
            [Hit(content_id=t, kind=kind, title=t.title(), score=0.9 - 0.1 * i) for i, t in enumerate(self.titles[:k])]
            for _ in texts
        ]


class FakeEmbedder:
    dimension = 8

    def __init__(self, *, poison: str | None = None) -> None:
        self.poison = poison
        self.calls: list[list[str]] = []

    async def healthy(self) -> bool:
        return True

    async def embed_content(self, texts: list[str]) -> Vectors:
        self.calls.append(list(texts))
        if self.poison in texts:
            raise RuntimeError("tokenizer exploded")
        return np.stack([vector(t, self.dimension) for t in texts])


class FakeStore:
    def __init__(self) -> None:
        self.saved: list[Recommendation] = []

    async def save(self, recommendations: list[Recommendation]) -> None:
        self.saved.extend(recommendations)


class FakeMetrics:
    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.latencies: list[float] = []

    def handled(self, topic: str, outcome: str, count: int = 1) -> None:
        if count:
            self.outcomes[(topic, outcome)] += count

    def recommended(self, latency_ms: float) -> None:
        self.latencies.append(latency_ms)

"""Stand-ins for what the agents are given (`agents.ports`): no broker, no model, no Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from index.batcher import Lane
from index.encoder import Vectors
from index.serving import Answer, Moments
from index.vector_index import Hit
from schemas import ChatStarted, ChatTimings, IndexWatermark, Recommendation
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


WATERMARK = IndexWatermark(items=3, table_items=3, changes=3, last_change="c@1")


class FakeSearcher:
    """Answers each text with `hits` fixed saved responses, scored by position, as `model_id`."""

    def __init__(
        self, titles: list[str], *, poison: str | None = None, broken: bool = False, model_id: str = "fake-model"
    ) -> None:
        self.titles = titles
        self.poison = poison
        self.broken = broken
        self.model_id = model_id
        self.queries: list[tuple[list[str], int, str, Lane]] = []
        self.moments: Moments | None = None  # when the answer's stages happened; now, if not set
        self.candidate: FakeSearcher | None = None  # the candidate interleaving judges, if any
        self.sink_when_challenged: FakeSink | None = None  # what had been published when the candidate was asked
        self.published_before_challenge: list[bytes | None] = []
        self.delay_s = 0.0  # how long each query takes

    async def healthy(self) -> bool:
        return not self.broken

    def challenger(self) -> str | None:
        return None if self.candidate is None else self.candidate.model_id

    async def challenge(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer | None:
        if self.candidate is None:
            return None
        if self.sink_when_challenged is not None:
            self.published_before_challenge = [s.key for s in self.sink_when_challenged.sent]
        return await self.candidate.query(texts, k, kind, lane)

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer:
        self.queries.append((texts, k, kind, lane))
        await asyncio.sleep(self.delay_s)
        if self.broken or self.poison in texts:
            raise RuntimeError("tokenizer exploded")
        hits = [
            [Hit(content_id=t, kind=kind, title=t.title(), score=0.9 - 0.1 * i) for i, t in enumerate(self.titles[:k])]
            for _ in texts
        ]
        now = time.time()
        moments = self.moments or Moments(now, now, now + 0.001, now + 0.001)
        return Answer(hits, self.model_id, WATERMARK, 0.001, moments)


class FakeShadow:
    def __init__(self) -> None:
        self.offered: list[tuple[list[str], str, list[list[str]], list[float]]] = []
        self.texts: list[str] = []  # what the candidates would embed

    def offer(
        self, chats: list[ChatStarted], answer: Answer, rankings: list[list[str]], latencies: list[float]
    ) -> None:
        self.offered.append(([c.chat_id for c in chats], answer.model_id, rankings, latencies))
        self.texts.extend(c.text for c in chats)


class FakeEmbedder:
    """Embeds with each of `models` (the first is the active one); `kept` are the registry's models."""

    dimension = 8

    def __init__(
        self, *, poison: str | None = None, models: tuple[str, ...] = ("fake-model",), kept: set[str] | None = None
    ) -> None:
        self.poison = poison
        self.models = list(models)
        self.kept = set(models) if kept is None else kept
        self.failing: set[str] = set()
        self.calls: list[list[str]] = []  # the active model's
        self.calls_by_model: list[tuple[str, list[str]]] = []

    async def healthy(self) -> bool:
        return True

    def content_models(self) -> list[str]:
        return self.models

    def kept_models(self) -> set[str]:
        return self.kept

    async def embed_content(self, texts: list[str], model_id: str) -> Vectors:
        if model_id == self.models[0]:
            self.calls.append(list(texts))
        self.calls_by_model.append((model_id, list(texts)))
        if self.poison in texts or model_id in self.failing:
            raise RuntimeError("tokenizer exploded")
        return np.stack([vector(f"{model_id}:{t}", self.dimension) for t in texts])


class FakeStore:
    def __init__(self) -> None:
        self.saved: list[Recommendation] = []
        self.texts: dict[str, str] = {}

    async def save(self, recommendations: list[Recommendation], texts: Mapping[str, str] | None = None) -> None:
        self.saved.extend(recommendations)
        self.texts.update(texts or {})


class FakeMetrics:
    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.latencies: list[float] = []
        self.stages: list[tuple[str, ChatTimings, float]] = []

    def handled(self, topic: str, outcome: str, count: int = 1) -> None:
        if count:
            self.outcomes[(topic, outcome)] += count

    def recommended(self, latency_ms: float) -> None:
        self.latencies.append(latency_ms)

    def chat_stages(self, model_id: str, timings: ChatTimings, publish_s: float) -> None:
        self.stages.append((model_id, timings, publish_s))

"""What the agents need from the rest of the worker, as protocols: the engine, an output topic, the table,
metrics. The worker passes its real parts (`streams.app`); unit tests pass fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from index.batcher import Lane
from index.encoder import Vectors
from index.vector_index import Hit
from schemas import Recommendation


class Sink(Protocol):
    """An output topic: `send` queues a message and returns the future of its delivery."""

    async def send(
        self, *, key: bytes | None = None, value: bytes | None = None, headers: Mapping[str, bytes] | None = None
    ) -> Awaitable[Any]: ...


class Searcher(Protocol):
    """`healthy()` says whether a canary text embeds and searches: it tells a bad event from a broken model."""

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> list[list[Hit]]: ...

    async def healthy(self) -> bool: ...


class Embedder(Protocol):
    async def embed_content(self, texts: list[str]) -> Vectors: ...

    async def healthy(self) -> bool: ...


class Rows(Protocol):
    """The content-vectors table as the content agent uses it: encoded `ContentEntry` rows by content id."""

    def get(self, key: str) -> bytes | None: ...

    def __setitem__(self, key: str, value: bytes) -> None: ...


class RecommendationStore(Protocol):
    """Keeps the latest recommendation per chat for `GET /recommendations/{chat_id}`."""

    async def save(self, recommendations: list[Recommendation]) -> None: ...


class AgentMetrics(Protocol):
    def handled(self, topic: str, outcome: str, count: int = 1) -> None: ...

    def recommended(self, latency_ms: float) -> None: ...


# What became of a consumed event: the `outcome` label of `helpstream_events_handled_total`.
RECOMMENDED = "recommended"
INDEXED = "indexed"
UNCHANGED = "unchanged"
DEAD_LETTERED = "dead_lettered"

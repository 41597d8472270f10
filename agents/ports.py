"""What the agents need from the rest of the worker, as protocols: the engine, an output topic, the table,
metrics. The worker passes its real parts (`streams.app`); unit tests pass fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from index.batcher import Lane
from index.encoder import Vectors
from index.serving import Answer
from schemas import ChatStarted, ChatTimings, Recommendation


class Sink(Protocol):
    """An output topic: `send` queues a message and returns the future of its delivery."""

    async def send(
        self, *, key: bytes | None = None, value: bytes | None = None, headers: Mapping[str, bytes] | None = None
    ) -> Awaitable[Any]: ...


class Searcher(Protocol):
    """`query` is answered by the active model; `challenge` by the candidate interleaving judges, `challenger()`
    (None when no candidate covers the table here); `healthy()` says whether a canary text embeds and searches:
    it tells a bad event from a broken model."""

    async def query(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer: ...

    def challenger(self) -> str | None: ...

    async def challenge(self, texts: list[str], k: int, kind: str, lane: Lane) -> Answer | None: ...

    async def healthy(self) -> bool: ...


class Embedder(Protocol):
    """Every model the registry runs embeds a content edit: `content_models()` are loaded here (active first),
    `kept_models()` are all of the registry's, whose vectors a row keeps while its texts stay the same."""

    def content_models(self) -> list[str]: ...

    def kept_models(self) -> set[str]: ...

    async def embed_content(self, texts: list[str], model_id: str) -> Vectors: ...

    async def healthy(self) -> bool: ...


class Shadow(Protocol):
    """Takes the chats the active model answered, for candidates to be scored on off the critical path."""

    def offer(
        self, chats: list[ChatStarted], answer: Answer, rankings: list[list[str]], latencies_ms: list[float]
    ) -> None: ...


@dataclass(frozen=True)
class Ranked:
    """What is known of a chat's recommendation when an agent's feedback on it comes."""

    active: str  # the model that answered
    rankings: dict[str, list[str]]  # each model's own ranking, best first (none on an interleaved chat)
    candidate: str | None = None  # on an interleaved chat, the candidate interleaved with `active`
    # On an interleaved chat: content id -> the model that contributed it (None: both ranked it there, no vote).
    credited: Mapping[str, str | None] | None = None


class Rankings(Protocol):
    async def rankings(self, chat_id: str) -> Ranked | None: ...

    async def first_vote(self, chat_id: str) -> bool: ...


Vote = Literal["active", "candidate"]


class FeedbackTally(Protocol):
    def used(self, model_id: str, rank: int | None, active_rank: int | None, *, paired: bool) -> None:
        """An agent used a response this model ranked `rank` (None: not in its list)."""

    def voted(self, candidate_id: str, vote: Vote | None) -> None:
        """An agent used a response on a chat interleaved with this candidate: a vote for the model that
        contributed it (None: no vote, a response found by search or one both models ranked the same)."""


class InterleaveTally(Protocol):
    def shown(self, candidate_id: str, chats: int) -> None:
        """`chats` were shown an interleaving of the active model's ranking and this candidate's."""


class Rows(Protocol):
    """The content-vectors table as the content agent uses it: encoded `ContentEntry` rows by content id."""

    def get(self, key: str) -> bytes | None: ...

    def __setitem__(self, key: str, value: bytes) -> None: ...


class RecommendationStore(Protocol):
    """Keeps the latest recommendation per chat for `GET /recommendations/{chat_id}`, and each chat's masked text
    for the usage examples its feedback makes."""

    async def save(self, recommendations: list[Recommendation], texts: Mapping[str, str] | None = None) -> None: ...


class ChatTexts(Protocol):
    async def text(self, chat_id: str) -> str | None:
        """The chat's text, personal data masked; None when it is no longer kept."""


class AgentMetrics(Protocol):
    def handled(self, topic: str, outcome: str, count: int = 1) -> None: ...

    def recommended(self, latency_ms: float) -> None: ...

    def chat_stages(self, model_id: str, timings: ChatTimings, publish_s: float) -> None: ...


# What became of a consumed event: the `outcome` label of `helpstream_events_handled_total`.
RECOMMENDED = "recommended"
INDEXED = "indexed"
UNCHANGED = "unchanged"
DEAD_LETTERED = "dead_lettered"

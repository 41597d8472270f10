"""The model registry and the figures workers report, as the compacted control topic carries them.

The registry topic holds key `registry`, the whole `Registry` (the latest record wins), written by operators.
The figures topic holds key `figures/<worker>`, that worker's `WorkerFigures`, replaced every few seconds and
writable by the worker principal only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.types import Contract, Timestamp

REGISTRY_KEY = "registry"
FIGURES_PREFIX = "figures/"
# Upper edges, in milliseconds, of the latency histograms workers report; merged across workers by adding counts.
LATENCY_EDGES_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000,
)  # fmt: skip

Backend = Literal["torch", "onnx", "onnx-int8"]
Action = Literal["seed", "add", "promote", "rollback", "retire"]


class ModelRef(Contract):
    """A model as a worker loads it: the `HELPSTREAM_MODEL`-style setting, the backend, and the id they make."""

    model_id: str
    model: str
    backend: Backend


class Change(Contract):
    at: Timestamp
    action: Action
    model_id: str
    forced: bool = False
    reason: str | None = None
    operator: str | None = None  # who made the change (required on a forced promote)
    figures: dict[str, float] = Field(
        default_factory=dict, description="what the change was decided on, e.g. a learned model's tune figures"
    )


class Registry(Contract):
    """Which model answers (`active`), which one `rollback` returns to (`previous`), which are shadow-scored
    (`candidates`), and every change so far. Every live model's vectors are kept in the content table."""

    revision: Annotated[int, Field(ge=0)] = 0
    active: ModelRef | None = None
    previous: ModelRef | None = None
    candidates: list[ModelRef] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    history: list[Change] = Field(default_factory=list)

    def live(self) -> list[ModelRef]:
        """Every model whose vectors are kept: active first."""
        return [m for m in (self.active, self.previous, *self.candidates) if m is not None]

    def roles(self) -> dict[str, str]:
        """Model id → `active`, `previous` or `candidate`."""
        return {
            **{m.model_id: "candidate" for m in self.candidates},
            **({self.previous.model_id: "previous"} if self.previous else {}),
            **({self.active.model_id: "active"} if self.active else {}),
        }

    def find(self, model_id: str) -> ModelRef | None:
        return next((m for m in self.live() if m.model_id == model_id), None)


class Histogram(Contract):
    """Counts per bucket of `LATENCY_EDGES_MS`, plus one past the last edge."""

    counts: Annotated[
        list[Annotated[int, Field(ge=0)]],
        Field(min_length=len(LATENCY_EDGES_MS) + 1, max_length=len(LATENCY_EDGES_MS) + 1),
    ] = Field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))


class ModelFigures(Contract):
    """One model on one worker: coverage of the content table and what shadow scoring and feedback measured."""

    loaded: bool = False
    error: str | None = None
    items: int = 0
    table_items: int = 0
    changes: int = 0
    last_change: str | None = None
    scored: int = 0  # chats this model answered (active) or was shadow-scored on (candidate)
    shed: int = 0  # chats sampled for the shadow but dropped because the shadow queue was full
    top1_equal: int = 0  # of `scored`, how often its top item was the active model's top item
    top3_overlap: float = 0.0  # sum over `scored` of |top-3 ∩ active top-3| / 3
    encode_ms: Histogram = Field(default_factory=Histogram)
    chat_ms: Histogram = Field(default_factory=Histogram)
    feedback: int = 0  # responses agents used, on chats this model ranked
    feedback_top1: int = 0
    feedback_rr: float = 0.0  # sum of 1/rank (0 when this model did not rank the used response)
    paired: int = 0  # of `feedback`, on chats the active model ranked too (a shadow-scored chat)
    paired_rr: float = 0.0  # this model's reciprocal ranks on those chats
    paired_active_rr: float = 0.0  # the active model's on the same chats
    interleaved: int = 0  # chats shown a team-draft interleaving of the active model's ranking and this one's
    interleave_wins: int = 0  # of those, chats where an agent used a response this model contributed
    interleave_losses: int = 0  # ... a response the active model contributed
    interleave_no_vote: int = 0  # ... a response found by search, or both models ranked the same: no vote


class WorkerFigures(Contract):
    worker: str
    at: Timestamp
    registry_revision: int
    active: str | None
    # The model the worker answers with, as the registry names it: what an operator's first change seeds with.
    active_ref: ModelRef | None = None
    owns_content: bool = False
    interleave_share: float = 0.0  # its HELPSTREAM_INTERLEAVE_SHARE: whether votes, not paired MRR, judge quality
    # Its models are still loading: it answers nothing yet; `active` is the model it means to answer with.
    starting: bool = False
    models: dict[str, ModelFigures] = Field(default_factory=dict)

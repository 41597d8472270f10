"""This worker's live counters per model: the active model's answers, the candidates' shadow scores and
interleavings, and the agents' feedback on both. Published as figures (`streams.engine.figures`), merged across
the group."""

from __future__ import annotations

from collections import defaultdict

from agents.ports import Vote
from schemas.registry import Registry, WorkerFigures
from streams.registry.figures import ModelTally, votes_hold


class Tallies:
    def __init__(self) -> None:
        self._by_model: defaultdict[str, ModelTally] = defaultdict(ModelTally)
        self._active: str | None = None
        self._resumed = False

    def __getitem__(self, model_id: str) -> ModelTally:
        return self._by_model[model_id]

    def used(self, model_id: str, rank: int | None, active_rank: int | None, *, paired: bool) -> None:
        """An agent used a response this model ranked `rank` (`agents.ports.FeedbackTally`)."""
        self._by_model[model_id].used(rank, active_rank, paired=paired)

    def voted(self, candidate_id: str, vote: Vote | None) -> None:
        """An agent used a response on a chat interleaved with this candidate (`agents.ports.FeedbackTally`)."""
        self._by_model[candidate_id].voted(vote)

    def shown(self, candidate_id: str, chats: int) -> None:
        """Chats shown interleaved with this candidate (`agents.ports.InterleaveTally`)."""
        self._by_model[candidate_id].interleaved += chats

    def resume(self, registry: Registry, last: WorkerFigures | None) -> None:
        """At start: the registry read, and the report this worker's run before made under the same worker id, whose
        votes that still hold (`votes_hold`) carry on: that report is about to be replaced by this run's."""
        self._active = None if registry.active is None else registry.active.model_id
        if last is None or self._resumed:
            return
        self._resumed = True
        for model_id, figures in last.models.items():
            if votes_hold(last, registry, model_id):
                self._by_model[model_id].add_votes(figures)

    def follow(self, registry: Registry) -> None:
        """Forget models that left the registry (one added again starts from zero), and every model's votes when
        the active model changes: they were cast against the model that answered before."""
        for gone in set(self._by_model) - {m.model_id for m in registry.live()}:
            del self._by_model[gone]
        active = None if registry.active is None else registry.active.model_id
        if active != self._active:
            self._active = active
            for tally in self._by_model.values():
                tally.forget_votes()

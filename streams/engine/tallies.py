"""This worker's live counters per model: the active model's answers, the candidates' shadow scores and
interleavings, and the agents' feedback on both. Published as figures (`streams.engine.figures`), merged across
the group."""

from __future__ import annotations

from collections import defaultdict

from agents.ports import Vote
from streams.registry.figures import ModelTally


class Tallies:
    def __init__(self) -> None:
        self._by_model: defaultdict[str, ModelTally] = defaultdict(ModelTally)

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

    def keep(self, model_ids: set[str]) -> None:
        """Forget models that left the registry: one added again starts from zero."""
        for gone in set(self._by_model) - model_ids:
            del self._by_model[gone]

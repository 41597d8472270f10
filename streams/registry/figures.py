"""What each worker measures per model (tallied as chats are answered and scored), and the group's view of it
(every worker's latest figures merged: counts and histograms added, coverage the worst worker's)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta

from schemas.registry import LATENCY_EDGES_MS, Histogram, ModelFigures, ModelRef, Registry, WorkerFigures
from streams.registry.verdict import Verdict

FRESH_S = 30.0  # a worker whose figures are older than this has stopped (or left): left out of the group's view


def _bucket(ms: float) -> int:
    return bisect.bisect_left(LATENCY_EDGES_MS, ms)


def quantile(counts: list[int], q: float) -> float | None:
    """The `q` quantile of a histogram over `LATENCY_EDGES_MS`, interpolated within its bucket; None if empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            low = 0.0 if i == 0 else LATENCY_EDGES_MS[i - 1]
            high = LATENCY_EDGES_MS[i] if i < len(LATENCY_EDGES_MS) else LATENCY_EDGES_MS[-1] * 2
            return low + (high - low) * (rank - seen) / count
        seen += count
    return LATENCY_EDGES_MS[-1] * 2


@dataclass
class ModelTally:
    """One model's live counters on this worker (see `ModelFigures` for what each means)."""

    scored: int = 0
    shed: int = 0
    top1_equal: int = 0
    top3_overlap: float = 0.0
    encode_ms: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))
    chat_ms: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))
    feedback: int = 0
    feedback_top1: int = 0
    feedback_rr: float = 0.0
    paired: int = 0
    paired_rr: float = 0.0
    paired_active_rr: float = 0.0
    interleaved: int = 0
    interleave_wins: int = 0
    interleave_losses: int = 0
    interleave_no_vote: int = 0

    def answered(self, encode_ms: float, chat_ms: Iterable[float]) -> None:
        """A batch this model answered: its model time once, each chat's (estimated) latency."""
        self.encode_ms[_bucket(encode_ms)] += 1
        for ms in chat_ms:
            self.chat_ms[_bucket(ms)] += 1
            self.scored += 1

    def agreed(self, ranking: list[str], active: list[str]) -> None:
        self.top1_equal += bool(ranking and active and ranking[0] == active[0])
        self.top3_overlap += len(set(ranking[:3]) & set(active[:3])) / 3

    def used(self, rank: int | None, active_rank: int | None = None, *, paired: bool = False) -> None:
        """An agent used a response this model ranked `rank` (None: not in its list)."""
        rr = 0.0 if rank is None else 1.0 / rank
        self.feedback += 1
        self.feedback_top1 += rank == 1
        self.feedback_rr += rr
        if paired:
            self.paired += 1
            self.paired_rr += rr
            self.paired_active_rr += 0.0 if active_rank is None else 1.0 / active_rank

    def voted(self, vote: str | None) -> None:
        """A used response on a chat interleaved with this candidate, contributed by `vote` (None: neither)."""
        if vote == "candidate":
            self.interleave_wins += 1
        elif vote == "active":
            self.interleave_losses += 1
        else:
            self.interleave_no_vote += 1

    def forget_votes(self) -> None:
        for name in _VOTES:
            setattr(self, name, 0)

    def add_votes(self, figures: ModelFigures) -> None:
        """Another report's interleaving counts: the chats shown and the votes cast on them."""
        for name in _VOTES:
            setattr(self, name, getattr(self, name) + getattr(figures, name))

    def figures(self, **coverage: object) -> ModelFigures:
        counters = asdict(self)
        histograms = {name: Histogram(counts=counters.pop(name)) for name in _HISTOGRAMS}
        return ModelFigures.model_validate({**coverage, **counters, **histograms})

    def add(self, figures: ModelFigures) -> None:
        """Another worker's counters of this model: counts and histogram buckets added."""
        for name in (f.name for f in fields(self)):
            if name in _HISTOGRAMS:
                theirs: list[int] = getattr(figures, name).counts
                setattr(self, name, [a + b for a, b in zip(getattr(self, name), theirs, strict=True)])
            else:
                setattr(self, name, getattr(self, name) + getattr(figures, name))


_HISTOGRAMS = ("encode_ms", "chat_ms")
_VOTES = ("interleaved", "interleave_wins", "interleave_losses", "interleave_no_vote")


@dataclass
class GroupModel:
    """One model across the group's workers that reported recently."""

    model_id: str
    workers: int = 0
    loaded: int = 0
    errors: list[str] = field(default_factory=list)
    covered_everywhere: bool = True
    departed: int = 0  # workers gone whose last report's votes still count
    items: int | None = None  # the least any worker's index holds
    table_items: int = 0
    tally: ModelTally = field(default_factory=ModelTally)

    @property
    def coverage(self) -> float:
        return 1.0 if self.table_items == 0 else min(1.0, (self.items or 0) / self.table_items)

    def p(self, q: float, which: str = "chat") -> float | None:
        return quantile(self.tally.chat_ms if which == "chat" else self.tally.encode_ms, q)

    @property
    def top1_agreement(self) -> float | None:
        return self.tally.top1_equal / self.tally.scored if self.tally.scored else None

    @property
    def top3_overlap(self) -> float | None:
        return self.tally.top3_overlap / self.tally.scored if self.tally.scored else None

    @property
    def mrr(self) -> float | None:
        return self.tally.feedback_rr / self.tally.feedback if self.tally.feedback else None

    @property
    def top1_use(self) -> float | None:
        return self.tally.feedback_top1 / self.tally.feedback if self.tally.feedback else None

    @property
    def paired_mrr(self) -> tuple[float, float] | None:
        """(this model's, the active model's) MRR on the same shadow-scored chats."""
        t = self.tally
        return (t.paired_rr / t.paired, t.paired_active_rr / t.paired) if t.paired else None

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.tally.interleave_wins, self.tally.interleave_losses)

    def chats_needed(self) -> int | None:
        """Roughly how many more interleaved chats the verdict needs, at the rate they have given votes so far."""
        verdict = self.verdict
        votes = verdict.votes_needed()
        if votes is None or verdict.decided == 0:
            return None
        return math.ceil(votes * self.tally.interleaved / verdict.decided)

    def summary(self) -> dict[str, object]:
        def r(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        paired = self.paired_mrr
        verdict = self.verdict
        interval = verdict.interval()
        return {
            "model_id": self.model_id,
            "workers": self.workers,
            "loaded": self.loaded,
            "errors": self.errors,
            "items": self.items,
            "table_items": self.table_items,
            "coverage": r(self.coverage),
            "covered_everywhere": self.covered_everywhere,
            "scored": self.tally.scored,
            "shed": self.tally.shed,
            "top1_agreement": r(self.top1_agreement),
            "top3_overlap": r(self.top3_overlap),
            "encode_p50_ms": r(self.p(0.5, "encode"), 1),
            "encode_p99_ms": r(self.p(0.99, "encode"), 1),
            "chat_p50_ms": r(self.p(0.5), 1),
            "chat_p99_ms": r(self.p(0.99), 1),
            "feedback": self.tally.feedback,
            "top1_use": r(self.top1_use),
            "mrr": r(self.mrr),
            "paired_feedback": self.tally.paired,
            "paired_mrr": None if paired is None else r(paired[0]),
            "paired_active_mrr": None if paired is None else r(paired[1]),
            "interleaved": self.tally.interleaved,
            "interleave_wins": self.tally.interleave_wins,
            "interleave_losses": self.tally.interleave_losses,
            "interleave_no_vote": self.tally.interleave_no_vote,
            "interleave_departed_workers": self.departed,
            "interleave_share": r(verdict.share),
            "interleave_interval": None if interval is None else [r(interval[0]), r(interval[1])],
            "interleave_p": r(verdict.p_value, 4) if verdict.decided else None,
            "interleave_winner": verdict.winner,
            "interleave_chats_needed": self.chats_needed(),
        }


def fresh(reports: Iterable[WorkerFigures], now: datetime, fresh_s: float = FRESH_S) -> list[WorkerFigures]:
    """The reports of workers still running: a stopped worker's last report stays on the compacted topic."""
    return [report for report in reports if now - report.at <= timedelta(seconds=fresh_s)]


def answering(reports: Iterable[WorkerFigures], now: datetime) -> ModelRef | None:
    """The model the running workers answer with, as each reports it (what an empty registry is seeded with when
    the workers may not write it); ValueError when they answer with different models."""
    refs = {f.active_ref.model_id: f.active_ref for f in fresh(reports, now) if f.active_ref is not None}
    if len(refs) > 1:
        raise ValueError(f"the registry is empty and the workers answer with different models ({', '.join(refs)})")
    return next(iter(refs.values()), None)


def interleaves(reports: Iterable[WorkerFigures]) -> bool:
    """Whether any of these workers interleaves chats: then agents' votes judge a candidate's quality."""
    return any(report.interleave_share > 0 for report in reports)


def votes_hold(report: WorkerFigures, registry: Registry, candidate_id: str) -> bool:
    """Whether the interleaving votes `report` counts for `candidate_id` still judge it under `registry`: cast
    against the model active now, by a worker that had followed the registry since that model became active and
    since the candidate was last added. Revisions, not clocks, order them: every change is one revision."""
    active = registry.active
    if active is None or report.active != active.model_id:
        return False
    if candidate_id not in {c.model_id for c in registry.candidates}:
        return False
    first = registry.revision - len(registry.history) + 1  # the revision of the oldest change kept
    became = [
        first + i
        for i, change in enumerate(registry.history)
        if change.model_id == active.model_id and change.action in ("seed", "promote", "rollback")
    ]
    if not became:
        return False  # out of the history: when the votes were cast is unknown
    # A candidate not added since became one by a promote, which was no later than the active model's change.
    added = [
        first + i
        for i, change in enumerate(registry.history)
        if change.model_id == candidate_id and change.action == "add"
    ]
    return report.registry_revision >= max([became[-1], *added[-1:]])


def merge(
    reports: Iterable[WorkerFigures], now: datetime, registry: Registry | None = None, fresh_s: float = FRESH_S
) -> dict[str, GroupModel]:
    """The group's figures per model from each worker's latest report. A stale report (its worker stopped or left)
    is left out, except, given the `registry`, for the interleaving votes it counts that still hold
    (`votes_hold`): a rolling update or a crash does not throw a verdict's evidence away. Latency, coverage and
    shadow scores are the running workers' own."""
    reports = list(reports)
    running = fresh(reports, now, fresh_s)
    group: dict[str, GroupModel] = {}
    for report in running:
        for model_id, f in report.models.items():
            g = group.setdefault(model_id, GroupModel(model_id))
            g.workers += 1
            g.loaded += f.loaded
            if f.error:
                g.errors.append(f"{report.worker}: {f.error}")
            g.items = f.items if g.items is None else min(g.items, f.items)
            g.table_items = max(g.table_items, f.table_items)
            g.covered_everywhere &= f.loaded and f.items >= f.table_items
            g.tally.add(f)
    if registry is not None:
        live = {id(report) for report in running}
        for report in (r for r in reports if id(r) not in live):
            for model_id, f in report.models.items():
                if model_id in group and _votes_count(report, registry, model_id, f):
                    group[model_id].tally.add_votes(f)
                    group[model_id].departed += 1
    return group


def _votes_count(report: WorkerFigures, registry: Registry, model_id: str, f: ModelFigures) -> bool:
    return any(getattr(f, name) for name in _VOTES) and votes_hold(report, registry, model_id)


def forgettable(
    reports: dict[str, WorkerFigures],
    registry: Registry,
    silent_s: dict[str, float],
    own: str,
    after_s: float,
) -> list[str]:
    """The workers whose last report may be deleted from the compacted figures topic: silent for more than
    `after_s` (`silent_s`: seconds since a record of theirs arrived, by the reader's own clock, as workers' clocks
    may disagree), holding no vote that still counts (`merge` leaves such a report out), and not `own`. Without
    this, every worker id a deployment ever ran (each autoscaled pod brings one) would stay on the topic, read by
    every start and command. Votes stop holding for good as the registry moves on (revisions only grow), so a
    report made under a newer registry than `registry` is left to the readers that follow it."""
    return [
        worker
        for worker, report in reports.items()
        if worker != own
        and silent_s.get(worker, 0.0) > after_s
        and report.registry_revision <= registry.revision
        and not any(_votes_count(report, registry, model_id, f) for model_id, f in report.models.items())
    ]

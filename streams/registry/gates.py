"""Whether a candidate may be promoted: it covers every item on every worker, its live chat p99 fits the budget,
and agents prefer it: on interleaved chats, a sequential sign test on the responses they used says the candidate
wins; where no chat was interleaved (`HELPSTREAM_INTERLEAVE_SHARE=0`), its MRR on shadow-scored chats is at least
the active model's."""

from __future__ import annotations

from dataclasses import dataclass

from streams.registry.figures import GroupModel

MIN_SCORED = 20  # shadow-scored chats before its p99 means anything
MIN_PAIRED = 10  # used responses on shadow-scored chats before its quality is judged
MRR_TOLERANCE = 0.01  # a candidate may trail the active model's MRR by this much (one rank in a hundred chats)


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str


def promote_gates(
    candidate: GroupModel | None, workers: int, budget_p99_ms: float, *, interleaving: bool = False
) -> list[Gate]:
    """Every gate, passed or not, so `promote` shows them all; `workers` is how many reported recently, and
    `interleaving` whether any of them interleaves: then only agents' votes can pass the quality gate."""
    if candidate is None or workers == 0:
        return [Gate("coverage", False, "no worker has reported on this model yet: is any running?")]
    covered = candidate.covered_everywhere and candidate.workers == workers
    gates = [
        Gate(
            "coverage",
            covered,
            f"{candidate.items}/{candidate.table_items} items on the least covered of {candidate.loaded} of "
            f"{workers} workers that loaded it"
            + (f"; errors: {'; '.join(candidate.errors)}" if candidate.errors else ""),
        )
    ]
    p99 = candidate.p(0.99)
    scored = candidate.tally.scored
    gates.append(
        Gate(
            "latency",
            p99 is not None and scored >= MIN_SCORED and p99 <= budget_p99_ms,
            f"chat p99 {p99:.0f} ms over {scored} shadow-scored chats, budget {budget_p99_ms:.0f} ms"
            if p99 is not None
            else "no shadow-scored chats yet",
        )
    )
    if interleaving or candidate.tally.interleaved:
        gates.append(interleaving_gate(candidate))
        return gates
    paired = candidate.paired_mrr
    n = candidate.tally.paired
    gates.append(
        Gate(
            "quality",
            paired is not None and n >= MIN_PAIRED and paired[0] >= paired[1] - MRR_TOLERANCE,
            f"MRR {paired[0]:.3f} against the active model's {paired[1]:.3f} on {n} used responses"
            if paired is not None
            else "no agent feedback on shadow-scored chats yet",
        )
    )
    if paired is not None and n < MIN_PAIRED:
        gates[-1] = Gate("quality", False, gates[-1].detail + f" (needs {MIN_PAIRED})")
    return gates


def interleaving_gate(candidate: GroupModel) -> Gate:
    verdict = candidate.verdict
    t = candidate.tally
    seen = (
        f"on {t.interleaved} interleaved chats agents used its pick {t.interleave_wins} times, the active model's "
        f"{t.interleave_losses} (no vote: {t.interleave_no_vote})"
    )
    interval = verdict.interval()
    if interval is not None:
        low, high = interval
        seen += f"; its share {verdict.share:.2f}, 95% interval {low:.2f}-{high:.2f}"
        seen += f", sequential p={verdict.p_value:.3f}"
    if verdict.winner == "candidate":
        return Gate("quality", True, f"agents prefer it: {seen}")
    if verdict.winner == "active":
        return Gate("quality", False, f"agents prefer the active model: {seen}")
    needed = candidate.chats_needed()
    more = "no lead either way yet" if needed is None else f"about {needed} more interleaved chats to decide"
    return Gate("quality", False, f"not decided: {seen}; {more}")

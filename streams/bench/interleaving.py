"""Interleaving against the truth: two models whose quality is known (each measured serving alone on the held-out
chats) are judged the way a live deployment judges a candidate, on a stream of chats with simulated agents who use
the right response when it is shown and find it by search otherwise. Side by side: the sequential sign test on
team-draft interleavings, and the paired-MRR gate on shadow-scored chats (agents see the active model's list).

Each pair runs on several orderings of the same chats (embedded once), so the figures are how many chats a
verdict took and how often it was right, not one lucky order. A pair of equal models (a model against itself)
shows how often the test names a winner where there is none."""

from __future__ import annotations

import logging
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agents.interleaving import team_draft, tied
from index.backends import Backend, load_encoder
from index.cpu import this_cpu
from index.encoder import Vectors
from index.models import fetched, resolve
from index.usage_memory import model_memory
from schemas import ContentUpdated
from schemas.pii import mask
from streams.clients.publish import LabelledChat
from streams.demo.sparse import sparse_cms
from streams.registry.gates import MIN_PAIRED, MRR_TOLERANCE
from streams.registry.verdict import Verdict
from streams.tune.data import KIND, held_out_chats
from streams.tune.evaluate import content_index, quality

logger = logging.getLogger(__name__)

TOP_K = 3
CLOSE = 0.01  # a top-1 gap below which two models are called close
# Known quality, each measured serving alone; the same weights quantised to int8 make a close pair.
MODELS: dict[str, tuple[str, Backend]] = {
    "minilm-l6": ("minilm-l6", "onnx"),
    "minilm-l3": ("minilm-l3", "onnx"),
    "l6-int8": ("minilm-l6", "onnx-int8"),
}
Rankings = list[list[str]]


@dataclass(frozen=True)
class Judged:
    """One ordering of the chats: what each method said and after how many chats."""

    interleaved_winner: str | None
    interleaved_chats: int  # chats until the verdict (all of them when undecided)
    untied_winner: str | None  # the same without the tie rule: every used response the candidate drafted is a vote
    untied_chats: int
    votes: tuple[int, int]  # candidate's, active's, when it decided or at the end
    paired_passed: bool  # the paired-MRR gate at the end of the stream
    paired_mrr: tuple[float, float]  # candidate's, active's, on the shadow-scored chats


def rankings(
    encode: Callable[[list[str]], Vectors],
    content: list[ContentUpdated],
    chats: list[str],
    memory: Mapping[str, Vectors] | None = None,
) -> Rankings:
    index = content_index(encode, content, KIND, memory)
    return [[h.content_id for h in hits] for hits in index.search(encode(chats), TOP_K, KIND)]


def _interleaved(
    active: Rankings, candidate: Rankings, truth: list[str], order: list[int], seed: int, *, ties: bool
) -> tuple[str | None, int, tuple[int, int]]:
    """(the winner or None, chats until the verdict, the votes then)."""
    wins = losses = 0
    for n, i in enumerate(order, start=1):
        shown = team_draft(active[i], candidate[i], TOP_K, random.Random(f"{seed}-{i}"))
        team = next((team for item, team in shown if item == truth[i]), None)  # else found by search: no vote
        if team is not None and ties and tied(active[i], candidate[i], truth[i]):
            team = None
        wins += team == "candidate"
        losses += team == "active"
        winner = Verdict(wins, losses).winner
        if winner is not None:
            return winner, n, (wins, losses)
    return None, len(order), (wins, losses)


def _rr(ranking: list[str], item: str) -> float:
    return 1 / (ranking.index(item) + 1) if item in ranking else 0.0


def judge(active: Rankings, candidate: Rankings, truth: list[str], order: list[int], seed: int) -> Judged:
    """The same chats in `order`, each both interleaved (its own stream) and shadow-scored (another). On the
    shadow-scored stream agents see the active model's list and find the right response by search when it is not
    there: the live feedback counts that as a miss for the active model and credit for a candidate that ranked it."""
    winner, chats, votes = _interleaved(active, candidate, truth, order, seed, ties=True)
    untied_winner, untied_chats, _ = _interleaved(active, candidate, truth, order, seed, ties=False)
    mrr = (
        sum(_rr(candidate[i], truth[i]) for i in order) / len(order),
        sum(_rr(active[i], truth[i]) for i in order) / len(order),
    )
    passed = len(order) >= MIN_PAIRED and mrr[0] >= mrr[1] - MRR_TOLERANCE
    return Judged(winner, chats, untied_winner, untied_chats, votes, passed, mrr)


def run_interleaving(
    cache_dir: Path, *, chats: int, orderings: int, threads: int, tuned: Path | None = None, seed: int = 13
) -> int:
    """With `tuned` (a model `helpstream bench --learning --seed SEED` wrote on the sparse CMS of that seed): that
    model against the frozen one it was tuned from, on the held-out chats, which neither ever trained on."""
    cpu = this_cpu()
    sparse = sparse_cms(5, seed=1 if tuned is None else seed)
    # Customers' words, read with their personal data masked, as the workers embed them and `tune` learns them.
    held_out = held_out_chats({c.content_id for c in sparse.content if c.kind == KIND})
    unseen = [LabelledChat(mask(c.text), c.intent) for c in sparse.unseen[:chats]]
    stream = unseen if tuned is None else [LabelledChat(t, i) for t, i in held_out]
    chosen = dict(MODELS) if tuned is None else {**MODELS, "tuned": (str(tuned), "onnx")}
    models = {}
    for name, (setting, backend) in chosen.items():
        started = time.perf_counter()
        model = fetched(resolve(setting))
        encoder = load_encoder(model, backend, cache_dir, threads=threads, batch_size=32)
        memory = model_memory(model.directory, model.dimension, model.manifest)  # a learned model's, as served
        alone = quality(encoder.encode, sparse.content, held_out, KIND, memory)
        ranked = rankings(encoder.encode, sparse.content, [c.text for c in stream], memory)
        models[name] = (alone, ranked)
        logger.info("%s embedded %s chats in %.0f s", name, len(stream), time.perf_counter() - started)
    truth = [str(c.intent) for c in stream]
    print(f"Interleaving against the truth ({cpu.model}, {cpu.level}): sparse CMS (5 example queries per saved ")
    source = "Banking77's training split" if tuned is None else "the held-out demo chats (no model trained on them)"
    print(f"response), {len(stream)} chats from {source}, {orderings} orderings of them.")
    print("Serving alone on the held-out chats:")
    for setting, (alone, _) in models.items():
        print(f"  {setting:<10} {alone}")
    pairs = [
        ("minilm-l6", "minilm-l3"),
        ("minilm-l3", "minilm-l6"),
        ("minilm-l6", "l6-int8"),
        ("minilm-l6", "minilm-l6"),
    ]
    if tuned is not None:
        pairs = [("minilm-l6", "tuned"), ("tuned", "minilm-l6"), *pairs]
    header = (
        f"{'active':<10} {'candidate':<10} {'truth':<6} {'interleaving: verdicts':<26} {'chats to decide':<22} "
        f"{'without the tie rule':<34} {'paired-MRR gate':<18} {'MRR cand/active'}"
    )
    print(header)
    print("-" * len(header))
    for active_setting, candidate_setting in pairs:
        (a_alone, active), (c_alone, candidate) = models[active_setting], models[candidate_setting]
        gap = c_alone.top1 - a_alone.top1
        truth_says = "same" if active_setting == candidate_setting else "close" if abs(gap) < CLOSE else "better"
        truth_says = "worse" if gap <= -CLOSE else truth_says
        judged = [
            judge(active, candidate, truth, random.Random(ordering).sample(range(len(stream)), len(stream)), ordering)
            for ordering in range(orderings)
        ]
        verdicts = {w: sum(j.interleaved_winner == w for j in judged) for w in ("candidate", "active", None)}
        needed = [j.interleaved_chats for j in judged if j.interleaved_winner is not None]
        spread = f"median {statistics.median(needed):.0f} (max {max(needed)})" if needed else "-"
        untied = [j.untied_chats for j in judged if j.untied_winner is not None]
        right = sum(j.untied_winner == j.interleaved_winner for j in judged)
        without = f"same verdict {right}/{orderings}, " + (
            f"median {statistics.median(untied):.0f} chats" if untied else "none decided"
        )
        passed = sum(j.paired_passed for j in judged)
        mrr = judged[0].paired_mrr
        said = f"cand {verdicts['candidate']}, active {verdicts['active']}, none {verdicts[None]}"
        print(
            f"{active_setting:<10} {candidate_setting:<10} {truth_says:<6} {said:<26} {spread:<22} {without:<34} "
            f"{f'passed {passed} of {orderings}':<18} {mrr[0]:.3f} / {mrr[1]:.3f}"
        )
    return 0

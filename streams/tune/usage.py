"""Training data from agents' usage: each chat's used response labels the chat's masked text, weighed by where the
agent found it, and a seeded slice of chats is kept out to judge the model on real chats.

A response used at rank r tells the model more the less often agents look that far: weighting it by the inverse
of that examination rate (Joachims et al. 2017) keeps the data from teaching only what the serving model already
ranks first. The rate is estimated from the used responses per rank, relative to rank 1; that estimate also counts
what the serving model got right at each rank, so it overstates how rarely agents look down the list, and the
weight is capped. A response found by search was not in the list at all: the model missed it, and it gets the cap.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from schemas import UsageExample

MAX_WEIGHT = 5.0


@dataclass(frozen=True)
class UsageData:
    """`train`: texts by saved response; `weights`: each text's weight (an example query weighs 1); `kept_out`:
    (text, content id) pairs never trained on; `examination`: how often agents look as far as each rank."""

    train: dict[str, list[str]]
    weights: dict[str, float]
    kept_out: list[tuple[str, str]]
    examination: dict[int, float]

    def texts(self) -> int:
        return sum(map(len, self.train.values()))

    def every_text(self) -> dict[str, list[str]]:
        """The kept-out chats' texts back with the rest: what a final training learns from."""
        out = {item: list(texts) for item, texts in self.train.items()}
        for text, item in self.kept_out:
            if text not in out.setdefault(item, []):
                out[item].append(text)
        return out


def examination(examples: Iterable[UsageExample]) -> dict[int, float]:
    """How often agents look as far as rank r, relative to rank 1, never below 1 / MAX_WEIGHT."""
    used = Counter(e.rank for e in examples if e.source == "recommended" and e.rank is not None)
    top = used.get(1, 0)
    if not top:
        return {}
    return {rank: min(1.0, max(1 / MAX_WEIGHT, n / top)) for rank, n in sorted(used.items())}


def weight(example: UsageExample, looked: dict[int, float]) -> float:
    """MAX_WEIGHT for a miss; 1 / how often agents look that far for a used rank (1 before any rank-1 use)."""
    if example.source == "search" or example.rank is None:
        return MAX_WEIGHT
    if not looked:
        return 1.0
    return 1 / looked.get(example.rank, 1 / MAX_WEIGHT)


def kept_out(chat_id: str, share: float, seed: int) -> bool:
    """Whether a chat is in the evaluation slice: a seeded hash of its id, the same on every run."""
    digest = hashlib.sha256(f"{seed}:{chat_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def usage_data(examples: list[UsageExample], content_ids: set[str], share: float, seed: int) -> UsageData:
    """Examples of saved responses still in `content_ids`; `share` of the chats kept out. A text used for two
    responses (two chats with the same words) stays with both, at its larger weight."""
    usable = [e for e in examples if e.content_id in content_ids]
    looked = examination(usable)
    train: dict[str, list[str]] = {}
    raw: dict[str, float] = {}
    held: list[tuple[str, str]] = []
    held_out = [kept_out(example.chat_id, share, seed) for example in usable]
    for example, out in zip(usable, held_out, strict=True):
        raw[example.text] = max(raw.get(example.text, 0.0), weight(example, looked))
        if out:
            held.append((example.text, example.content_id))
    # Another chat with the same words as a kept-out one would teach the model the answer it is judged on.
    judged = {text for text, _ in held}
    for example, out in zip(usable, held_out, strict=True):
        if out or example.text in judged:
            continue
        texts = train.setdefault(example.content_id, [])
        if example.text not in texts:
            texts.append(example.text)
    return UsageData(train, raw, held, looked)


def merged(queries: dict[str, list[str]], usage: UsageData) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The example queries and the usage texts together; the weights keep their ratios (an example query weighs as
    much as a response used at the top) and are scaled to average 1 over every text, so the learning rate keeps its
    meaning whatever the mix."""
    out = {item: list(texts) for item, texts in queries.items()}
    for item, texts in usage.train.items():
        known = set(out.setdefault(item, []))
        out[item] += [t for t in texts if t not in known]
    weights = {t: 1.0 for texts in queries.values() for t in texts}
    for text, w in usage.weights.items():
        weights[text] = max(weights.get(text, 0.0), w)
    every = [weights[t] for texts in out.values() for t in texts]
    mean = sum(every) / len(every) if every else 1.0
    return out, {t: w / mean for t, w in weights.items()}

"""A learned model's usage memory (`index.usage_memory`), built from the chats it learned from: each saved
response's chats embedded by the model and clustered (spherical k-means, seeded), the mean of every cluster of at
least `MIN_CHATS` chats kept, then sharpened against the other responses.

Why a memory beside the weights: a CMS holds a handful of phrasings per saved response, and on the demo's sparse
CMS the chats agents answered, added to the index, lift top-1 more than fine-tuning on them does (docs/learning.md,
"Learning cycles, simulated").
Why means: no vector is one customer's chat, and one agent's wrong pick moves a mean, not a whole vector.
Why sharpened: a mean sits inside its chats, so where two responses' chats meet, the means stand back from the
border and a chat there finds the wrong response; learning vector quantization (LVQ) moves them to the border.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from index.encoder import Vectors
from index.usage_memory import MIN_CHATS
from streams.tune.evaluate import Encode

CHATS_PER_VECTOR = 8  # on average: finer keeps more of how customers phrase a need, coarser means more per vector
MAX_VECTORS = 64  # per saved response: the index stays the size a rich CMS gives it
MAX_CHATS = MAX_VECTORS * CHATS_PER_VECTOR  # the newest, per saved response: a cycle's time stays bounded
RIVALS = 3  # agents see three responses: a chat's own should beat the best three others, not only the first
MARGIN = 0.1  # cosine: a chat whose response leads a rival by less than this still moves the two
EPOCHS = 30
RATE = 0.01  # the first epoch's step toward or away from a chat, falling to zero: all steps add up to under 1/6
CHUNK = 4096  # chats scored at once: bounds the memory sharpening takes whatever the usage's size


def usage_memory(
    encode: Encode, texts: Mapping[str, list[str]], seed: int, own: Mapping[str, Vectors], *, sharpen: bool = True
) -> dict[str, Vectors]:
    """Each saved response's vectors from its chats' `texts` (oldest first; the newest `MAX_CHATS` count); a response
    with fewer than `MIN_CHATS` gets none. The same newest chats in another order give the same vectors. `own`: every
    saved response's own rows in the index (its texts embedded by the same model), the rivals the memory is
    sharpened against unless `sharpen` is false."""
    import faiss

    # Sorted: k-means starts from points picked by position, and the order chats arrived in moves held-out top-1 by
    # as much as the recipes being compared differ (docs/learning.md).
    newest = {item: sorted(chats[-MAX_CHATS:]) for item, chats in texts.items() if len(chats) >= MIN_CHATS}
    items = sorted(newest)
    if not items:
        return {}
    embedded = encode([text for item in items for text in newest[item]])
    bounds = np.cumsum([0, *(len(newest[item]) for item in items)])
    out: dict[str, Vectors] = {}
    for item, start, end in zip(items, bounds, bounds[1:], strict=False):
        vectors = np.ascontiguousarray(embedded[start:end], dtype=np.float32)
        k = max(1, min(MAX_VECTORS, len(vectors) // CHATS_PER_VECTOR))
        kmeans = faiss.Kmeans(
            vectors.shape[1], k, niter=20, nredo=5, seed=seed, spherical=True, min_points_per_centroid=1
        )
        kmeans.train(vectors)
        _, assigned = kmeans.index.search(vectors, 1)
        means = [
            vectors[assigned[:, 0] == c].mean(axis=0) for c in range(k) if (assigned[:, 0] == c).sum() >= MIN_CHATS
        ]
        if means:
            out[item] = _unit(np.stack(means))
    if not sharpen or not out:
        return out
    answered = [item for item in items for _ in newest[item]]
    return sharpened(out, np.ascontiguousarray(embedded, dtype=np.float32), answered, own)


def sharpened(
    memory: Mapping[str, Vectors], chats: Vectors, chat_items: list[str], own: Mapping[str, Vectors]
) -> dict[str, Vectors]:
    """`memory` moved by LVQ (LVQ2.1's window as a margin, on cosines, against the best `RIVALS` other responses):
    for every chat (`chats`, each answered with `chat_items`) whose response leads one of its rivals by less than
    `MARGIN`, the response's nearest memory vector steps toward it and each such rival's nearest memory vector steps
    away from it. The responses' `own` rows compete and stay where they are. Every chat is weighed every epoch from
    where the vectors stood at its start, so the result does not depend on the chats' order."""
    names = sorted(set(own) | set(memory))
    column = {name: i for i, name in enumerate(names)}
    keys = sorted(memory)
    with_own = [name for name in names if name in own]
    board = _Board(
        fixed=np.vstack([own[name] for name in with_own] or [np.zeros((0, chats.shape[1]), dtype=np.float32)]),
        moving=np.vstack([memory[key] for key in keys]).astype(np.float32),
        response_of=np.array(
            [column[name] for name in with_own for _ in own[name]] + [column[key] for key in keys for _ in memory[key]]
        ),
        responses=len(names),
    )
    answered = np.array([column[item] for item in chat_items])
    for epoch in range(EPOCHS):
        rate = RATE * (1 - epoch / EPOCHS)
        step = np.zeros_like(board.moving)
        for start in range(0, len(chats), CHUNK):
            board.add_moves(chats[start : start + CHUNK], answered[start : start + CHUNK], rate, step)
        board.moving = _unit(board.moving + step)
    moving_of = board.response_of[len(board.fixed) :]
    return {key: board.moving[moving_of == column[key]] for key in keys}


@dataclass
class _Board:
    """The rows a memory competes among, as one index holds them: the responses' own (`fixed`), then the memory's
    (`moving`); `response_of` each row's response, by its number."""

    fixed: np.ndarray
    moving: Vectors
    response_of: np.ndarray
    responses: int

    def add_moves(self, x: Vectors, answered: np.ndarray, rate: float, step: Vectors) -> None:
        """Adds to `step` one epoch's moves of the memory's rows for the chats `x`, answered with `answered`."""
        scores = x @ np.vstack([self.fixed, self.moving]).T
        n, chat, first = len(x), np.arange(len(x)), len(self.fixed)
        best = np.full((n, self.responses), -np.inf, dtype=np.float32)
        best_row = np.zeros((n, self.responses), dtype=np.int64)
        for response in np.unique(self.response_of):
            rows = np.flatnonzero(self.response_of == response)
            nearest = rows[scores[:, rows].argmax(axis=1)]
            best[:, response], best_row[:, response] = scores[chat, nearest], nearest
        right, right_row = best[chat, answered], best_row[chat, answered]
        best[chat, answered] = -np.inf
        close_any = np.zeros(n, dtype=bool)
        for rival in np.argsort(-best, axis=1)[:, :RIVALS].T:
            close = best[chat, rival] > right - MARGIN
            close_any |= close
            row = best_row[chat, rival]
            away = close & (row >= first)
            np.add.at(step, row[away] - first, -rate * (x[away] - self.moving[row[away] - first]))
        toward = close_any & (right_row >= first)
        np.add.at(step, right_row[toward] - first, rate * (x[toward] - self.moving[right_row[toward] - first]))


def _unit(rows: np.ndarray) -> Vectors:
    out: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out

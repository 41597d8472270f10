"""Sharpens a usage memory against the other saved responses: learning vector quantization (LVQ2.1, its window as a
margin, on cosines) moves each mean of chats toward its response's chats that another response comes close to, and
away from other responses' chats that come close to it.

Why: a mean sits inside its chats, so where two responses' chats meet, the means stand back from the border and a
chat there finds the other response (docs/learning.md, "The usage memory")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from index.encoder import Vectors
from index.usage_memory import MIN_CHATS

RIVALS = 3  # near a border with several responses, all of them move, not only the first
MARGIN = 0.1  # cosine: a chat whose response leads a rival by less than this still moves the two
PASSES = 30  # over every chat; the share falls to zero by the last, so the result settles
SHARE = 0.04  # the first pass's share of the way toward the chats that pull a vector (or away from those that push)
CHUNK = 4096  # chats scored at once: a pass's memory grows with the index's rows, not the usage


def sharpened(
    memory: Mapping[str, Vectors], chats: Vectors, chat_items: list[str], own: Mapping[str, Vectors]
) -> dict[str, Vectors]:
    """`memory` moved, pass by pass: for every chat (`chats`, each answered with `chat_items`) whose response leads
    one of its best `RIVALS` other responses by less than `MARGIN`, the response's nearest vector steps toward it and
    each such rival's nearest vector away from it, when that vector is the memory's; the responses' `own` rows compete
    and stay. A vector moves by `SHARE` (falling to zero) of the mean of its chats' steps, counted as `MIN_CHATS` when
    fewer act: however many chats act on it, a pass moves it a bounded step, and one chat's steps on it add up to at
    most `SHARE / MIN_CHATS` a pass. Every chat is weighed from where the vectors stood at the pass's start, so the
    result does not depend on the chats' order (up to rounding)."""
    names = sorted(set(own) | set(memory))
    column = {name: i for i, name in enumerate(names)}
    keys = sorted(memory)
    with_own = [name for name in names if name in own]
    dimension = chats.shape[1]
    board = _Board(
        fixed=np.vstack([own[name] for name in with_own] or [np.zeros((0, dimension), dtype=np.float32)]).astype(
            np.float32
        ),
        moving=np.vstack([memory[key] for key in keys]).astype(np.float32),
        response_of=np.array(
            [column[name] for name in with_own for _ in own[name]] + [column[key] for key in keys for _ in memory[key]]
        ),
        responses=len(names),
    )
    answered = np.array([column[item] for item in chat_items])
    for done in range(PASSES):
        steps = np.zeros_like(board.moving)
        acting = np.zeros(len(board.moving))
        for start in range(0, len(chats), CHUNK):
            board.add_steps(chats[start : start + CHUNK], answered[start : start + CHUNK], steps, acting)
        share = SHARE * (1 - done / PASSES)
        board.move(unit(board.moving + share * steps / np.maximum(acting, MIN_CHATS)[:, None]))
    moving_of = board.response_of[len(board.fixed) :]
    return {key: board.moving[moving_of == column[key]] for key in keys}


@dataclass
class _Board:
    """The rows a memory competes among, as one index holds them: the responses' own (`fixed`), then the memory's
    (`moving`); `response_of` each row's response, by its number."""

    fixed: Vectors
    moving: Vectors
    response_of: np.ndarray
    responses: int
    rows: Vectors = field(init=False)  # fixed and moving stacked, as the pass started
    rows_of: list[tuple[int, np.ndarray]] = field(init=False)  # each response's rows

    def __post_init__(self) -> None:
        self.rows_of = [(r, np.flatnonzero(self.response_of == r)) for r in np.unique(self.response_of).tolist()]
        self.move(self.moving)

    def move(self, moving: Vectors) -> None:
        """The memory's rows where the next pass starts, stacked with the fixed ones once: every chunk of the pass
        scores against the same rows."""
        self.moving = moving
        self.rows = np.vstack([self.fixed, moving])

    def add_steps(self, x: Vectors, answered: np.ndarray, steps: Vectors, acting: np.ndarray) -> None:
        """Adds to `steps` the chats `x`'s (answered with `answered`) steps on the memory's rows, and to `acting`
        how many chats stepped on each."""
        scores = x @ self.rows.T
        n, chat = len(x), np.arange(len(x))
        best = np.full((n, self.responses), -np.inf, dtype=np.float32)
        best_row = np.zeros((n, self.responses), dtype=np.int64)
        for response, its in self.rows_of:
            nearest = its[scores[:, its].argmax(axis=1)]
            best[:, response], best_row[:, response] = scores[chat, nearest], nearest
        right, right_row = best[chat, answered], best_row[chat, answered]
        best[chat, answered] = -np.inf
        close_any = np.zeros(n, dtype=bool)
        for rival in np.argsort(-best, axis=1)[:, :RIVALS].T:
            close = best[chat, rival] > right - MARGIN
            close_any |= close
            self._step(x, best_row[chat, rival], close, -1.0, steps, acting)
        self._step(x, right_row, close_any & np.isfinite(right), 1.0, steps, acting)

    def _step(
        self, x: Vectors, row: np.ndarray, acts: np.ndarray, sign: float, steps: Vectors, acting: np.ndarray
    ) -> None:
        """Chats `x` where `acts`, on their `row` when it is the memory's: toward them (`sign` 1) or away (-1)."""
        first = len(self.fixed)
        chosen = acts & (row >= first)
        target = row[chosen] - first
        np.add.at(steps, target, sign * (x[chosen] - self.moving[target]))
        np.add.at(acting, target, 1)


def unit(rows: np.ndarray) -> Vectors:
    """`rows` scaled to length 1, as float32."""
    out: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out

"""Sharpening a usage memory: means move toward their response's chats at a border with another response and away
from the other's, by bounded steps, whatever the chats' order."""

from __future__ import annotations

import numpy as np
import pytest

from index.encoder import Vectors
from streams.tune import sharpen
from streams.tune.memory import usage_memory
from streams.tune.sharpen import sharpened


def towards(degrees: float) -> Vectors:
    """A unit vector in the plane of the first two axes, `degrees` from the first."""
    row = np.zeros(3, dtype=np.float32)
    row[:2] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return row


def angle(row: Vectors) -> float:
    return float(np.degrees(np.arctan2(row[1], row[0])))


def chats_at(degrees: float, n: int) -> Vectors:
    return np.stack([towards(degrees)] * n)


PLANE = {f"at {d} {n}": towards(d) for d in (0, 50) for n in range(4)}


def plane(texts: list[str]) -> Vectors:
    return np.stack([PLANE[text] for text in texts])


def test_a_chat_the_means_send_to_another_response_finds_its_own_once_sharpened() -> None:
    # Half the chats asked at 0 degrees, half at 50: their mean stands at 25, and another response's own text at 70
    # is closer to the chats at 50 than the mean is.
    texts = {"lost-card": list(PLANE)}
    own = {"card-fees": towards(70)[None, :]}

    means = usage_memory(plane, texts, seed=1, own=None)["lost-card"]
    sharp = usage_memory(plane, texts, seed=1, own=own)["lost-card"]

    assert float(np.max(means @ towards(50))) < float(own["card-fees"][0] @ towards(50))
    assert float(np.max(sharp @ towards(50))) > float(own["card-fees"][0] @ towards(50))
    assert float(np.max(sharp @ towards(0))) > float(own["card-fees"][0] @ towards(0))  # still found where it was
    np.testing.assert_allclose(np.linalg.norm(sharp, axis=1), 1.0, rtol=1e-5)


def test_a_rivals_memory_steps_away_from_chats_it_wins_wrongly_and_their_own_steps_toward_them() -> None:
    memory = {"lost-card": towards(60)[None, :], "card-fees": towards(20)[None, :]}

    moved = sharpened(memory, chats_at(45, 4), ["card-fees"] * 4, own={})

    assert angle(moved["lost-card"][0]) > 60
    assert angle(moved["card-fees"][0]) > 20
    assert set(moved) == set(memory)


def test_the_responses_own_rows_compete_but_are_not_returned_or_moved() -> None:
    memory = {"lost-card": towards(60)[None, :]}
    own = {"card-fees": towards(20)[None, :], "lost-card": towards(90)[None, :]}

    moved = sharpened(memory, chats_at(50, 4), ["card-fees"] * 4, own)

    assert list(moved) == ["lost-card"]
    assert angle(moved["lost-card"][0]) > 60  # pushed away: the fixed card-fees row could not step toward them
    np.testing.assert_array_equal(own["card-fees"], towards(20)[None, :])


def test_a_crowd_of_chats_moves_a_vector_no_further_than_a_few_would() -> None:
    memory = {"lost-card": towards(60)[None, :], "card-fees": towards(-60)[None, :]}

    by_four = sharpened(memory, chats_at(45, 4), ["card-fees"] * 4, own={})
    by_crowd = sharpened(memory, chats_at(45, 300), ["card-fees"] * 300, own={})

    assert angle(by_four["lost-card"][0]) > 60
    np.testing.assert_allclose(by_crowd["lost-card"], by_four["lost-card"], atol=1e-5)


def test_a_memory_no_other_response_comes_close_to_stays_as_it_is() -> None:
    memory = {"lost-card": towards(0)[None, :], "card-fees": towards(90)[None, :]}
    chats = np.vstack([chats_at(5, 4), chats_at(85, 4)])

    moved = sharpened(memory, chats, ["lost-card"] * 4 + ["card-fees"] * 4, own={})

    for item, rows in memory.items():
        np.testing.assert_allclose(moved[item], rows, atol=1e-6)


def test_neither_the_chats_order_nor_how_many_are_scored_at_once_changes_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    items = [f"item-{i}" for i in range(5)]
    centres = rng.normal(size=(5, 16))
    chat_items = [items[i % 5] for i in range(200)]
    chats = centres[[i % 5 for i in range(200)]] + rng.normal(scale=1.2, size=(200, 16))
    chats = (chats / np.linalg.norm(chats, axis=1, keepdims=True)).astype(np.float32)
    memory = {item: chats[[j for j in range(200) if chat_items[j] == item][:8]].mean(axis=0)[None, :] for item in items}
    memory = {item: (rows / np.linalg.norm(rows)).astype(np.float32) for item, rows in memory.items()}
    order = rng.permutation(200)

    first = sharpened(memory, chats, chat_items, own={})
    shuffled = sharpened(memory, chats[order], [chat_items[j] for j in order], own={})
    monkeypatch.setattr(sharpen, "CHUNK", 7)
    chunked = sharpened(memory, chats, chat_items, own={})

    assert any(not np.allclose(first[item], memory[item], atol=1e-3) for item in items)  # it did move them
    for item in items:
        np.testing.assert_allclose(shuffled[item], first[item], atol=1e-5)
        np.testing.assert_allclose(chunked[item], first[item], atol=1e-5)

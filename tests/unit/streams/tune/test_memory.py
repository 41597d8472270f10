"""The usage memory a tune writes: a few vectors per saved response, each the mean of several chats, none for a
response agents used too rarely."""

from __future__ import annotations

import numpy as np

from index.encoder import Vectors
from index.usage_memory import MIN_CHATS
from streams.tune.memory import MAX_CHATS, usage_memory

DIRECTIONS = {"card": 0, "fees": 1}


def encode(texts: list[str]) -> Vectors:
    """A chat about `card` points near axis 0, one about `fees` near axis 1; the number after it is its noise."""
    rows = np.zeros((len(texts), 8), dtype=np.float32)
    for row, text in zip(rows, texts, strict=True):
        topic, n = text.split()
        row[DIRECTIONS[topic]] = 1.0
        row[2 + int(n) % 6] = 0.1
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_each_vector_is_a_mean_of_chats_and_a_response_used_too_rarely_has_none() -> None:
    texts = {
        "lost-card": [f"card {n}" for n in range(8)] + [f"fees {n}" for n in range(8)],
        "rare": [f"card {n}" for n in range(MIN_CHATS - 1)],
    }
    memory = usage_memory(encode, texts, seed=1, own=None)

    assert list(memory) == ["lost-card"]
    rows = memory["lost-card"]
    assert len(rows) == 2  # the two ways customers asked, one mean each
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    chats = encode(texts["lost-card"])
    assert not (chats @ rows.T > 0.9999).any()  # no vector is one chat's
    assert sorted(int(np.argmax(r[:2])) for r in rows) == [0, 1]


def test_the_same_chats_and_seed_give_the_same_memory() -> None:
    texts = {"lost-card": [f"card {n}" for n in range(20)] + [f"fees {n}" for n in range(20)]}
    first, again = usage_memory(encode, texts, seed=3, own=None), usage_memory(encode, texts, seed=3, own=None)
    np.testing.assert_array_equal(first["lost-card"], again["lost-card"])


def test_the_same_chats_in_another_order_give_the_same_memory() -> None:
    chats = [f"card {n}" for n in range(20)] + [f"fees {n}" for n in range(20)]
    shuffled = [chats[i] for i in np.random.default_rng(5).permutation(len(chats))]
    first = usage_memory(encode, {"lost-card": chats}, seed=3, own=None)
    again = usage_memory(encode, {"lost-card": shuffled}, seed=3, own=None)
    np.testing.assert_array_equal(first["lost-card"], again["lost-card"])


def test_only_the_newest_chats_count_whatever_their_words() -> None:
    newest = [f"card {n}" for n in range(MAX_CHATS)]
    older = [f"fees {n}" for n in range(20)]  # they sort last: a sort before the cut would keep them

    memory = usage_memory(encode, {"lost-card": older + newest}, seed=3, own=None)

    only_newest = usage_memory(encode, {"lost-card": newest}, seed=3, own=None)
    np.testing.assert_array_equal(memory["lost-card"], only_newest["lost-card"])

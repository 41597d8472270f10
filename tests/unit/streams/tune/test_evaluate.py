"""Quality is measured the way the product ranks: each item by its best-matching text, distinct items, kind."""

from __future__ import annotations

import numpy as np

from index.encoder import Vectors
from streams.tune.evaluate import hits, quality
from tests.unit.streams.tune.test_data import item

WORDS = ["card", "lost", "fee", "charge", "transfer", "pending", "how"]


def bag_of_words(texts: list[str]) -> Vectors:
    vectors = np.array([[float(w in t.lower()) for w in WORDS] for t in texts], dtype=np.float32) + 1e-3
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


CONTENT = [
    item("lost_card", ["lost card", "card lost abroad"]),
    item("fees", ["what fee", "a charge i do not know"]),
    item("transfer_pending", ["transfer pending", "pending transfer"]),
    item("how_article", ["how card fee charge lost"], kind="help_article"),  # another kind: never a hit
]


def test_top1_and_top3_count_the_right_item_among_distinct_saved_responses() -> None:
    queries = [("my card got lost", "lost_card"), ("why this charge", "fees"), ("is my transfer pending", "fees")]
    result = quality(bag_of_words, CONTENT, queries, "saved_response")
    assert result.queries == 3
    assert abs(result.top1 - 2 / 3) < 1e-9  # the transfer question finds transfer_pending first
    assert result.top3 == 1.0  # only three saved responses: the help article never counts


def test_hits_say_per_query_what_quality_averages() -> None:
    queries = [("my card got lost", "lost_card"), ("why this charge", "fees"), ("is my transfer pending", "fees")]
    found = hits(bag_of_words, CONTENT, queries, "saved_response")
    assert found.first == [True, True, False]
    assert found.three == [True, True, True]

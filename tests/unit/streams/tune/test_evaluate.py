"""Quality is measured the way the product ranks: each item by its best-matching text, distinct items, kind."""

from __future__ import annotations

import numpy as np
import pytest

from index.encoder import Vectors
from streams.tune.evaluate import hits, paired, quality
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


def test_paired_counts_only_the_queries_one_model_gets_right_and_the_other_does_not() -> None:
    this = [True] * 90 + [True] * 3 + [False] * 7
    that = [True] * 90 + [False] * 3 + [True] * 7
    result = paired(this, that)
    assert (result.queries, result.only_this, result.only_that) == (100, 3, 7)
    assert abs(result.difference - -0.04) < 1e-12
    # McNemar's exact test: 2 * P(X <= 3), X ~ Binomial(10, 1/2) = 2 * 176 / 1024
    assert abs(result.p - 352 / 1024) < 1e-12
    low, high = result.interval
    assert low < result.difference < high and low < 0 < high


def test_a_clear_difference_is_significant_and_its_interval_excludes_zero() -> None:
    result = paired([True] * 40 + [False] * 960, [False] * 1000)
    assert result.p < 1e-10
    assert result.interval[0] > 0


def test_equal_models_have_p_one_and_a_zero_width_interval() -> None:
    result = paired([True, False, True], [True, False, True])
    assert result.p == 1.0 and result.interval == (0.0, 0.0)


def test_paired_refuses_hits_on_different_queries() -> None:
    with pytest.raises(ValueError, match="same"):
        paired([True], [True, False])

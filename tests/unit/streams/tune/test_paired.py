"""Two models on the same queries: the split of the queries only one gets right, tested exactly."""

from __future__ import annotations

import pytest

from streams.tune.paired import paired


def test_paired_counts_only_the_queries_one_model_gets_right_and_the_other_does_not() -> None:
    this = [True] * 90 + [True] * 3 + [False] * 7
    that = [True] * 90 + [False] * 3 + [True] * 7
    result = paired(this, that)
    assert (result.queries, result.only_this, result.only_that) == (100, 3, 7)
    assert abs(result.difference - -0.04) < 1e-12
    # McNemar's exact test: 2 * P(X <= 3), X ~ Binomial(10, 1/2) = 2 * 176 / 1024
    assert abs(result.p - 352 / 1024) < 1e-12
    low, high = result.interval
    # the paired difference's normal approximation plus a continuity correction of one query in a hundred
    half = 1.96 * (10 - 16 / 100) ** 0.5 / 100 + 1 / 100
    assert abs(low - (-0.04 - half)) < 1e-12 and abs(high - (-0.04 + half)) < 1e-12
    assert low < 0 < high


def test_a_clear_difference_is_significant_and_its_interval_excludes_zero() -> None:
    result = paired([True] * 40 + [False] * 960, [False] * 1000)
    assert result.p < 1e-10
    assert result.interval[0] > 0


def test_models_right_on_the_same_queries_have_p_one_and_an_interval_around_zero() -> None:
    result = paired([True, False, True], [True, False, True])
    assert result.p == 1.0
    assert result.interval == (-1 / 3, 1 / 3)


def test_paired_refuses_hits_on_different_queries() -> None:
    with pytest.raises(ValueError, match="same"):
        paired([True], [True, False])

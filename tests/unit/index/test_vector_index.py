from __future__ import annotations

import numpy as np
import pytest

from index.vector_index import VectorIndex
from tests.unit.index.fakes import assert_same_hits, vector


def rows(*texts: str) -> np.ndarray:
    return np.stack([vector(t) for t in texts])


def test_search_returns_distinct_items_best_first_scored_by_their_closest_vector() -> None:
    index = VectorIndex(8)
    index.upsert("a", "saved_response", "A", rows("a1", "a2", "a3"))
    index.upsert("b", "saved_response", "B", rows("b1"))
    index.upsert("c", "saved_response", "C", rows("c1", "c2"))
    (hits,) = index.search(rows("a2"), k=3, kind="saved_response")
    assert hits[0].content_id == "a"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len({h.content_id for h in hits}) == len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_many_vectors_of_one_item_do_not_crowd_out_the_others() -> None:
    index = VectorIndex(8)
    index.upsert("big", "saved_response", "Big", rows(*[f"q{i}" for i in range(500)]))
    index.upsert("small", "saved_response", "Small", rows("s"))
    (hits,) = index.search(rows("q1"), k=2, kind="saved_response")
    assert [h.content_id for h in hits] == ["big", "small"]


def test_kind_filter_keeps_articles_and_saved_responses_apart() -> None:
    index = VectorIndex(8)
    index.upsert("r", "saved_response", "R", rows("x"))
    index.upsert("h", "help_article", "H", rows("x"))
    assert [h.content_id for h in index.search(rows("x"), 5, "help_article")[0]] == ["h"]
    assert [h.content_id for h in index.search(rows("x"), 5, "saved_response")[0]] == ["r"]


def test_upsert_replaces_an_items_vectors_and_delete_removes_them() -> None:
    index = VectorIndex(8)
    index.upsert("a", "help_article", "Old", rows("old1", "old2"))
    index.upsert("a", "help_article", "New", rows("new"))
    assert index.vector_count == 1
    (hits,) = index.search(rows("old1"), 5, "help_article")
    assert [(h.content_id, h.title) for h in hits] == [("a", "New")]
    assert index.delete("a")
    assert not index.delete("a")
    assert index.search(rows("new"), 5, "help_article") == [[]]
    assert len(index) == 0


def test_wrongly_shaped_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        VectorIndex(8).upsert("a", "help_article", "A", np.zeros((2, 4), np.float32))


def test_an_index_spread_over_shards_answers_like_one_index(monkeypatch: pytest.MonkeyPatch) -> None:
    items = {f"item-{i}": rows(*[f"item-{i}-{j}" for j in range(1 + i % 4)]) for i in range(40)}

    def filled() -> VectorIndex:
        index = VectorIndex(8)
        for content_id, vectors in items.items():
            index.upsert(content_id, "saved_response", content_id, vectors)
        index.delete("item-3")
        index.upsert("item-5", "saved_response", "item-5", rows("item-5-new"))
        return index

    whole = filled()
    monkeypatch.setattr("index.vector_index.SHARD_VECTORS", 7)
    sharded = filled()
    assert len(whole._by_kind["saved_response"]) == 1
    assert len(sharded._by_kind["saved_response"]) > 5
    queries = rows(*[f"item-{i}-0" for i in range(0, 40, 3)], "item-5-new", "elsewhere")
    assert_same_hits(sharded.search(queries, 5, "saved_response"), whole.search(queries, 5, "saved_response"))
    assert sharded.vector_count == whole.vector_count

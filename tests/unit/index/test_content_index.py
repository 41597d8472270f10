from __future__ import annotations

import numpy as np

from index.content_index import ContentIndex
from schemas import ContentEntry
from schemas.content_entry import ModelVectors
from tests.unit.index.fakes import vector


def row(
    version: int,
    *texts: str,
    models: tuple[str, ...] = ("fake",),
    deleted: bool = False,
    title: str = "T",
    dtype: str = "float16",
    content_id: str = "a",
    stored_texts: bool = True,
) -> ContentEntry:
    rows = np.stack([vector(t) for t in texts]) if texts else None
    return ContentEntry(
        content_id=content_id,
        version=version,
        deleted=deleted,
        kind="help_article",
        title=title,
        texts=list(texts) if stored_texts else [],
        text_hashes=list(texts),
        vectors={}
        if rows is None
        else {m: ModelVectors(dtype=dtype, data=rows.astype(dtype).tobytes()) for m in models},  # type: ignore[arg-type]
    )


def titles(index: ContentIndex) -> list[str]:
    return [h.title for h in index.search(vector("x")[None, :], 5, "help_article")[0]]


def test_rows_apply_in_version_order_and_replays_of_older_rows_are_ignored() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(2, "x", title="v2"))
    index.apply("a", row(1, "x", title="v1"))
    assert titles(index) == ["v2"]
    index.apply("a", row(3, deleted=True))
    index.apply("a", row(2, "x", title="v2"))
    assert titles(index) == []


def test_a_tombstone_removes_the_item() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(1, "x"))
    index.apply("a", None)
    assert len(index) == 0 and index.watermark().table_items == 0


def test_a_row_without_this_models_vectors_is_an_uncovered_item_not_an_empty_table() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(1, "x", models=("other-model",)))
    assert len(index) == 0
    assert index.watermark().table_items == 1 and index.missing(10) == ["a"]


def test_a_newer_row_without_this_models_vectors_takes_the_old_vectors_out() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(1, "x", models=("fake", "other")))
    index.apply("a", row(2, "y", models=("other",)))  # edited; only the other model embedded it so far
    assert len(index) == 0 and index.missing(10) == ["a"]
    index.apply("a", row(2, "y", models=("other", "fake")))  # the backfill's row, same version
    assert len(index) == 1 and index.missing(10) == []


def test_rows_without_stored_texts_cannot_be_backfilled_and_are_counted_apart() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(1, "x", models=("old",), stored_texts=False))
    assert index.missing(10) == [] and index.textless == 1


def test_the_watermark_names_the_items_held_and_the_last_change() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(1, "x"))
    index.apply("b", row(4, "y", content_id="b"))
    mark = index.watermark()
    assert (mark.items, mark.table_items, mark.changes, mark.last_change) == (2, 2, 2, "b@4")


def test_float16_rows_score_like_float32_ones() -> None:
    half, full = ContentIndex("fake", 8), ContentIndex("fake", 8)
    half.apply("a", row(1, "x", dtype="float16"))
    full.apply("a", row(1, "x", dtype="float32"))
    query = vector("x")[None, :]
    assert (
        abs(half.search(query, 1, "help_article")[0][0].score - full.search(query, 1, "help_article")[0][0].score)
        < 1e-3
    )


def test_vectors_that_cannot_be_read_count_as_missing_so_a_backfill_writes_them_again() -> None:
    index = ContentIndex("fake", 8)
    broken = row(1, "x", "y").model_copy(update={"vectors": {"fake": ModelVectors(data=b"\x00" * 6)}})
    index.apply("a", broken)
    assert len(index) == 0 and index.missing(10) == ["a"]


def test_a_learned_models_usage_memory_is_searched_with_its_item_and_goes_with_it() -> None:
    index = ContentIndex("fake", 8, memory={"a": vector("what customers say")[None, :]})
    index.apply("a", row(1, "the item's own text", title="A"))
    index.apply("b", row(1, "another item's text", title="B", content_id="b"))
    query = vector("what customers say")[None, :]

    first = index.search(query, 2, "help_article")[0][0]
    assert first.title == "A" and first.score > 0.99
    assert index.vectors.vector_count == 3

    index.apply("a", row(2, deleted=True))
    assert [h.title for h in index.search(query, 2, "help_article")[0]] == ["B"]
    assert index.vectors.vector_count == 1

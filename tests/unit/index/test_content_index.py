from __future__ import annotations

import numpy as np

from index.content_index import ContentIndex
from schemas import ContentEntry, encode
from tests.unit.index.fakes import vector


def row(
    version: int, *texts: str, model: str = "fake", deleted: bool = False, title: str = "T", dtype: str = "float16"
) -> bytes:
    vectors = np.stack([vector(t) for t in texts]).astype(dtype).tobytes() if texts else b""
    return encode(
        ContentEntry(
            content_id="a",
            version=version,
            model=model,
            deleted=deleted,
            kind="help_article",
            title=title,
            text_hashes=list(texts),
            dtype=dtype,
            vectors=vectors,
        )
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
    assert len(index) == 0


def test_vectors_of_another_model_never_enter_the_index() -> None:
    index = ContentIndex("fake", 8)
    index.apply("a", row(1, "x", model="other-model"))
    assert len(index) == 0


def test_float16_rows_score_like_float32_ones() -> None:
    half, full = ContentIndex("fake", 8), ContentIndex("fake", 8)
    half.apply("a", row(1, "x", dtype="float16"))
    full.apply("a", row(1, "x", dtype="float32"))
    query = vector("x")[None, :]
    assert (
        abs(half.search(query, 1, "help_article")[0][0].score - full.search(query, 1, "help_article")[0][0].score)
        < 1e-3
    )

import numpy as np

from schemas import ContentUpdated
from streams.bench.learning import BANDS, MEMORY_SEEDS, by_band, by_start, same_rule
from streams.tune.data import KIND
from streams.tune.evaluate import Hits


def test_each_band_counts_the_chats_only_one_model_gets_right() -> None:
    nearest = [0.95, 0.92, 0.85, 0.75, 0.60]
    this = Hits(first=[True, False, True, False, True], three=[True, True, True, False, True])
    that = Hits(first=[True, True, False, True, False], three=[True, True, True, True, True])

    bands = by_band(nearest, this, that)

    assert [b[0] for b in bands] == [name for _, name in BANDS]
    near, alike, unlike = bands
    assert near[1] == 2 and near[2] is not None and (near[2].only_this, near[2].only_that) == (0, 1)
    assert alike[1] == 1 and alike[2] is not None and (alike[2].only_this, alike[2].only_that) == (1, 0)
    assert unlike[1] == 2 and unlike[2] is not None and (unlike[2].only_this, unlike[2].only_that) == (1, 1)
    assert unlike[3] is not None and (unlike[3].only_this, unlike[3].only_that) == (0, 1)


def test_a_band_without_chats_is_shown_empty() -> None:
    bands = by_band([0.99], Hits(first=[True], three=[True]), Hits(first=[False], three=[True]))

    assert bands[1] == (BANDS[1][1], 0, None, None)
    assert bands[2] == (BANDS[2][1], 0, None, None)


def test_a_chat_on_a_boundary_is_in_the_band_above() -> None:
    hit = Hits(first=[True, True], three=[True, True])
    miss = Hits(first=[False, False], three=[False, False])

    near, alike, unlike = by_band([0.9, 0.8], hit, miss)

    assert (near[1], alike[1], unlike[1]) == (1, 1, 0)


def test_under_the_same_rule_each_k_means_seed_is_compared_chat_by_chat() -> None:
    learned = [Hits(first=[True, False, False, False], three=[True, True, True, False])] * 2
    full = [
        Hits(first=[True, True, True, True], three=[True, True, True, True]),
        Hits(first=[False, False, False, False], three=[True, True, True, False]),
    ]

    out = same_rule(learned, full)

    top1, top3 = out["top1"], out["top3"]
    assert isinstance(top1, list) and isinstance(top3, list)
    assert [(s["only_this"], s["only_against"]) for s in top1] == [(0, 3), (1, 0)]
    assert [(s["only_this"], s["only_against"]) for s in top3] == [(0, 1), (0, 0)]
    assert top1[0]["p"] == 0.25 and top1[1]["p"] == 1.0


def _vectors(texts: list[str]) -> np.ndarray:
    """A unit vector per text, the same for the same text: near its topic's centre (the text's first word)."""
    rows = []
    for text in texts:
        topic = np.random.default_rng(sum(map(ord, text.split()[0]))).normal(size=16)
        noise = np.random.default_rng(sum(map(ord, text))).normal(size=16)
        row = topic + 0.6 * noise
        rows.append(row / np.linalg.norm(row))
    return np.array(rows, dtype=np.float32)


def _item(content_id: str) -> ContentUpdated:
    return ContentUpdated.model_validate(
        {
            "content_id": content_id,
            "kind": KIND,
            "op": "upsert",
            "version": 1,
            "title": content_id,
            "body": f"{content_id} body",
            "example_queries": [f"{content_id} query {i}" for i in range(2)],
        }
    )


def test_memories_by_k_means_seed_compare_the_two_weights_under_the_same_rule() -> None:
    topics = ["card", "fee", "pin"]
    sparse = [_item(t) for t in topics]
    chats = [(f"{t} held {i}", t) for t in topics for i in range(10)]
    texts = {t: [f"{t} chat {i}" for i in range(16)] for t in topics}

    out = by_start("learned", _vectors, _vectors, texts, texts, sparse, chats)

    rows, same = out["rows"], out["same_rule"]
    assert isinstance(rows, list) and len(rows) == 4
    assert isinstance(same, dict)
    # The same encoder and texts on both sides: every seed's memories are the same, so no chat tells them apart.
    for figure in ("top1", "top3"):
        assert [(s["only_this"], s["only_against"]) for s in same[figure]] == [(0, 0)] * MEMORY_SEEDS

"""A learned model's usage memory (`index.usage_memory`), built from the chats it learned from: each saved
response's chats embedded by the model and clustered (spherical k-means, seeded), the mean of every cluster of at
least `MIN_CHATS` chats kept, then sharpened against the other responses (`streams.tune.sharpen`).

Why a memory beside the weights: a CMS holds a handful of phrasings per saved response, and on the demo's sparse
CMS the chats agents answered, added to the index, lift top-1 more than fine-tuning on them does (docs/learning.md,
"Learning cycles, simulated").
Why means: no vector is one customer's chat, and one agent's wrong pick moves a mean, not a whole vector."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from index.encoder import Vectors
from index.usage_memory import MIN_CHATS
from streams.tune.evaluate import Encode
from streams.tune.sharpen import sharpened, unit

CHATS_PER_VECTOR = 8  # on average: finer keeps more of how customers phrase a need, coarser means more per vector
MAX_VECTORS = 64  # per saved response: the index stays the size a rich CMS gives it
MAX_CHATS = MAX_VECTORS * CHATS_PER_VECTOR  # the newest, per saved response: a cycle's time stays bounded


def usage_memory(
    encode: Encode, texts: Mapping[str, list[str]], seed: int, own: Mapping[str, Vectors] | None
) -> dict[str, Vectors]:
    """Each saved response's vectors from its chats' `texts` (oldest first; the newest `MAX_CHATS` count); a response
    with fewer than `MIN_CHATS` gets none. The same newest chats in another order give the same vectors. `own`: every
    saved response's own rows in the index (its texts embedded by the same model), the rivals the memory is
    sharpened against; None: the means as they are."""
    import faiss

    # Sorted: k-means starts from points picked by position, and the order chats arrived in moves held-out top-1 by
    # as much as the recipes being compared differ (docs/learning.md).
    newest = {item: sorted(chats[-MAX_CHATS:]) for item, chats in texts.items() if len(chats) >= MIN_CHATS}
    items = sorted(newest)
    if not items:
        return {}
    embedded = encode([text for item in items for text in newest[item]])
    bounds = np.cumsum([0, *(len(newest[item]) for item in items)])
    out: dict[str, Vectors] = {}
    for item, start, end in zip(items, bounds, bounds[1:], strict=False):
        vectors = np.ascontiguousarray(embedded[start:end], dtype=np.float32)
        k = max(1, min(MAX_VECTORS, len(vectors) // CHATS_PER_VECTOR))
        kmeans = faiss.Kmeans(
            vectors.shape[1], k, niter=20, nredo=5, seed=seed, spherical=True, min_points_per_centroid=1
        )
        kmeans.train(vectors)
        _, assigned = kmeans.index.search(vectors, 1)
        means = [
            vectors[assigned[:, 0] == c].mean(axis=0) for c in range(k) if (assigned[:, 0] == c).sum() >= MIN_CHATS
        ]
        if means:
            out[item] = unit(np.stack(means))
    if own is None or not out:
        return out
    answered = [item for item in items for _ in newest[item]]
    return sharpened(out, np.ascontiguousarray(embedded, dtype=np.float32), answered, own)

"""A learned model's usage memory: vectors per saved response, each the mean of several chats' embeddings that agents
answered with it, kept in the model's directory and added to that response's vectors in the model's own index.

A model that learned from usage carries what it learned two ways: its weights, and these vectors, which put the
phrasings customers really use beside the few example queries a CMS holds. They hold no text, and no vector is one
chat's: each starts as the mean of the embeddings of at least `MIN_CHATS` distinct (masked) chat texts and is then
moved a little toward or away from many (`streams.tune.sharpen`).
The file is written by `helpstream tune`, copied by `helpstream model export` (its SHA-256 in the manifest) and read
when a worker loads the model; it is part of the model's id.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from index.encoder import Vectors
from index.manifest import BadExport, Manifest, verified

MEMORY = "usage-memory.npz"
MIN_CHATS = 4  # the fewest chats a vector is the mean of


def write_memory(directory: Path, memory: Mapping[str, Vectors]) -> Path:
    """`directory / MEMORY`: the content ids, and each one's rows in one float32 matrix."""
    ids = sorted(memory)
    counts = np.array([len(memory[i]) for i in ids], dtype=np.int64)
    dimension = next((memory[i].shape[1] for i in ids), 0)
    rows = np.vstack([memory[i] for i in ids]) if ids else np.zeros((0, dimension), dtype=np.float32)
    path = directory / MEMORY
    with path.open("wb") as f:
        np.savez(f, ids=np.array(ids, dtype=np.str_), counts=counts, vectors=rows.astype(np.float32))
    return path


def read_memory(path: Path, dimension: int) -> dict[str, Vectors]:
    """The memory at `path` (`BadExport` when it is unreadable or of another dimension); no pickles are loaded."""
    try:
        # The file opened here, not by numpy: numpy leaves it open when the zip is broken.
        with path.open("rb") as f, np.load(f, allow_pickle=False) as data:
            ids, counts, rows = data["ids"], data["counts"], data["vectors"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise BadExport(f"{path} is not a usage memory: {exc}") from None
    shaped = ids.ndim == 1 and counts.shape == ids.shape and rows.ndim == 2 and bool((counts >= 0).all())
    if not shaped or rows.shape[1] != dimension or counts.sum() != len(rows):
        raise BadExport(
            f"{path}: {rows.shape} vectors for {ids.shape} items do not fit a model of dimension {dimension}"
        )
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {
        str(i): np.ascontiguousarray(rows[a:b], dtype=np.float32)
        for i, a, b in zip(ids, bounds, bounds[1:], strict=False)
    }


def model_memory(directory: Path | None, dimension: int, manifest: Manifest | None) -> dict[str, Vectors]:
    """The memory of the model in `directory`, none when it has none. An exported model's is checked against its
    manifest, as its graphs are: another file there would serve other vectors under the model's id."""
    if directory is None:
        return {}
    if manifest is not None:
        return read_memory(verified(directory, manifest, MEMORY), dimension) if MEMORY in manifest.files else {}
    path = directory / MEMORY
    return read_memory(path, dimension) if path.is_file() else {}

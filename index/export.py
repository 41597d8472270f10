"""`helpstream model export`: any model as a self-contained directory that an install without torch serves.

The graphs are the ones a worker of the full install builds for itself (`index.onnx_encoder.exported_model`), so
the exported model keeps that worker's model id and vectors.
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
from pathlib import Path

from index.cpu import this_cpu
from index.manifest import MANIFEST, Manifest, sha256, verified, write_manifest
from index.models import Model, pooling_and_length, tokenizer_file
from index.onnx_encoder import exported_model
from index.onnx_export import graph_file, int8_config
from index.usage_memory import MEMORY

logger = logging.getLogger(__name__)

TOKENIZER = "tokenizer.json"
_VERSIONS = ("helpstream", "onnxruntime", "onnx", "torch", "transformers")


def export_directory(model: Model, out: Path, cache_dir: Path) -> Manifest:
    """Writes `out`: the fp32 graph, the int8 graph for this CPU, the tokenizer and the manifest. It is written
    beside `out` and renamed into place, so `out` is either the previous export or the whole new one."""
    out = out.resolve()
    if model.directory is not None and out == model.directory:
        raise ValueError(f"{out} is the model itself: export to another directory")
    if out.exists() and not (out / MANIFEST).is_file():
        raise ValueError(f"{out} exists and is not an exported model: choose another --out")
    int8 = int8_config()
    sources = {
        graph_file("fp32"): exported_model(model, cache_dir, "fp32"),
        graph_file(int8.name): exported_model(model, cache_dir, "int8"),
        TOKENIZER: tokenizer_file(model, cache_dir),
    }
    if model.manifest is not None and model.directory is not None and MEMORY in model.manifest.files:
        sources[MEMORY] = verified(model.directory, model.manifest, MEMORY)
    elif model.manifest is None and model.directory is not None and (model.directory / MEMORY).is_file():
        sources[MEMORY] = model.directory / MEMORY  # a learned model's usage memory travels with its graphs
    staging, previous = out.with_name(out.name + ".partial"), out.with_name(out.name + ".previous")
    for leftover in (staging, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, source in sources.items():
        logger.info("copying %s to %s", source, staging / name)
        shutil.copyfile(source, staging / name)
    pooling, max_tokens = pooling_and_length(model, cache_dir)
    manifest = Manifest(
        id=model.name,
        source=model.setting,
        dimension=model.dimension,
        pooling=pooling,
        max_tokens=max_tokens,
        tokenizer=TOKENIZER,
        graphs={"fp32": graph_file("fp32"), int8.name: graph_file(int8.name)},
        files={name: sha256(staging / name) for name in sources},
        exported_with={"cpu": this_cpu().describe(), **_versions()},
    )
    write_manifest(staging, manifest)
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous, ignore_errors=True)
    return manifest


def _versions() -> dict[str, str]:
    found = {}
    for name in _VERSIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found

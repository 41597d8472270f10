"""Chooses the encoder backend for a model: `torch` (sentence-transformers), `onnx` (fp32) or `onnx-int8`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from index.encoder import Encoder, SentenceTransformerEncoder
from index.models import TORCH, Model, ModelUnavailable, model_dir
from index.onnx_export import int8_variant

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")


def model_id(model: Model, backend: Backend) -> str:
    """The id stored with every vector: vectors of different models or backends never meet in one index or key."""
    if backend == "torch":
        return model.name
    return f"{model.name}/onnx-{'fp32' if backend == 'onnx' else int8_variant()}"


def available(model: Model, backend: Backend) -> bool:
    """Whether `model` runs on `backend`: a rung shipped as ONNX only has no torch weights."""
    return not (model.onnx_only and backend == "torch")


def load_encoder(model: Model, backend: Backend, cache_dir: Path, *, threads: int, batch_size: int) -> Encoder:
    """`threads` cores for the model: torch runs one call on all of them, ONNX that many calls side by side."""
    if not available(model, backend):
        raise ModelUnavailable(f"{model.setting} ships as ONNX only: use HELPSTREAM_ENCODER=onnx or onnx-int8")
    if backend == "torch":
        if importlib.util.find_spec("torch") is None:
            raise ModelUnavailable(f"the torch backend needs the [torch] extra: {TORCH}")
        return SentenceTransformerEncoder(
            model_dir(model, cache_dir), model.name, batch_size=batch_size, threads=threads
        )
    from index.onnx_encoder import Variant, onnx_encoder

    variant: Variant = "fp32" if backend == "onnx" else "int8"
    return onnx_encoder(model, model_id(model, backend), cache_dir, variant, parallel=threads, batch_size=batch_size)

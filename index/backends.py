"""Chooses the encoder backend: `torch` (sentence-transformers), `onnx` (fp32) or `onnx-int8` (quantized)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from index.encoder import MODEL_NAME, Encoder, SentenceTransformerEncoder
from index.onnx_export import int8_variant

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")


def model_id(backend: Backend) -> str:
    """The id stored with every vector: vectors of different backends never meet in one index or cache key."""
    if backend == "torch":
        return MODEL_NAME
    return f"{MODEL_NAME}/onnx-{'fp32' if backend == 'onnx' else int8_variant()}"


def load_encoder(backend: Backend, cache_dir: Path, *, threads: int, batch_size: int) -> Encoder:
    """`threads` cores for the model: torch runs one call on all of them, ONNX that many calls side by side."""
    if backend == "torch":
        return SentenceTransformerEncoder(batch_size=batch_size, threads=threads)
    from index.onnx_encoder import OnnxEncoder, exported_model

    return OnnxEncoder(
        exported_model(cache_dir, "fp32" if backend == "onnx" else "int8"), parallel=threads, batch_size=batch_size
    )

"""`helpstream model export`: the exported directory gives the torch model's vectors under the full install's model
id, and the base install's default (MiniLM-L6 shipped as ONNX) against it on the demo's held-out chats."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from index.backends import Backend, load_encoder, model_id
from index.encoder import Encoder, SentenceTransformerEncoder, Vectors
from index.manifest import read_manifest, sha256
from index.models import DEFAULT_MODEL, model_dir, resolve
from index.onnx_encoder import exported_model
from streams.clients.publish import read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.tune.evaluate import quality
from streams.tune.run import Memo

SAMPLE = 8  # every 8th text of the demo content: texts of every item, in seconds of torch


def content_texts() -> list[str]:
    return [text for item in read_content(demo_content()) if item.op == "upsert" for text in item.texts()]


def test_an_exported_directory_serves_the_torch_models_vectors_under_the_full_installs_id(
    exported_minilm: Path, data_dir: Path, figures: list[tuple[str, str]]
) -> None:
    cache = data_dir / "models"
    exported, full = resolve(str(exported_minilm)), resolve("minilm-l6")
    for backend in ("onnx", "onnx-int8"):
        assert model_id(exported, backend) == model_id(full, backend)
    manifest = read_manifest(exported_minilm)
    assert manifest.id == "all-MiniLM-L6-v2" and (manifest.pooling, manifest.max_tokens) == ("mean", 256)
    # The very graph a full install's worker builds for itself, checksummed.
    assert manifest.files[manifest.graphs["fp32"]] == sha256(exported_model(full, cache, "fp32"))

    texts = content_texts()[::SAMPLE]
    torch = SentenceTransformerEncoder(model_dir(full, cache), full.name, threads=2).encode(texts)
    for backend, floor in (("onnx", 0.9999), ("onnx-int8", 0.97)):
        encoder = load_encoder(exported, backend, cache, threads=1, batch_size=32)
        assert encoder.model_id == model_id(full, backend)
        cosine = np.sum(encoder.encode(texts) * torch, axis=1)
        figures.append(
            (
                f"exported minilm-l6 on {backend} vs torch, {len(texts)} demo texts: cosine min / mean",
                f"{cosine.min():.5f} / {cosine.mean():.5f}",
            )
        )
        assert cosine.min() >= floor


def _two_threads(encoder: Encoder) -> Memo:
    """Both cores on one evaluation: the texts in two halves, side by side (an ONNX session is thread-safe)."""

    def encode(texts: list[str]) -> Vectors:
        half = (len(texts) + 1) // 2
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(encoder.encode, [texts[:half], texts[half:]]))
        return np.concatenate([p for p in parts if len(p)]).astype(np.float32)

    return Memo(encode)


def test_the_lean_default_matches_the_exported_model_on_the_held_out_chats(
    exported_minilm: Path, data_dir: Path, figures: list[tuple[str, str]]
) -> None:
    content = read_content(demo_content())
    chats = [(c.text, c.intent or "") for c in read_chats(demo_chats())]
    runs: list[tuple[str, Backend]] = [
        (str(exported_minilm), "onnx"),
        (str(exported_minilm), "onnx-int8"),
        (DEFAULT_MODEL, "onnx"),
        (DEFAULT_MODEL, "onnx-int8"),
    ]
    found = {}
    for setting, backend in runs:
        model = resolve(setting)
        encoder = load_encoder(model, backend, data_dir / "models", threads=2, batch_size=32)
        found[(setting, backend)] = result = quality(_two_threads(encoder), content, chats, "saved_response")
        name = "exported minilm-l6" if setting != DEFAULT_MODEL else f"lean default {DEFAULT_MODEL}"
        figures.append((f"{name} ({encoder.model_id}): {len(chats)} held-out chats", str(result)))
    exported, lean = found[(str(exported_minilm), "onnx")], found[(DEFAULT_MODEL, "onnx")]
    # The lean default is the same network with its weights rounded to int8: within a point of it.
    assert lean.top1 >= exported.top1 - 0.01 and lean.top3 >= exported.top3 - 0.01
    assert found[(DEFAULT_MODEL, "onnx-int8")].top1 >= exported.top1 - 0.02

"""ONNX Runtime backends (fp32, int8) of all-MiniLM-L6-v2: the tokenizer, the exported graph, mean pooling.

Never imports torch: the export runs once in a child process (`index.onnx_export`), cached by source digest.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from index.encoder import DIMENSION, MODEL_NAME, Vectors
from index.onnx_export import int8_variant, source_digest, source_model_dir

logger = logging.getLogger(__name__)


def exported_model(cache_dir: Path, variant: str) -> Path:
    """Path of the `fp32` or `int8` ONNX file for this CPU, exporting it first when it is not cached."""
    model_dir = source_model_dir()
    out_dir = cache_dir / f"{MODEL_NAME}-{source_digest(model_dir)}"
    path = out_dir / f"model-{'fp32' if variant == 'fp32' else int8_variant()}.onnx"
    if not path.exists():
        logger.info("exporting %s to ONNX under %s (once, about 10 s)", MODEL_NAME, out_dir)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "index.onnx_export", str(out_dir)], check=True, capture_output=True)
        logger.info("exported in %.1f s", time.perf_counter() - started)
    return path


class OnnxEncoder:
    dimension = DIMENSION

    def __init__(self, path: Path, *, threads: int, batch_size: int = 32) -> None:
        model_dir = source_model_dir()
        max_tokens = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._batch_size = batch_size
        self._lock = threading.Lock()
        variant = path.stem.removeprefix("model-")
        self.model_id = f"{MODEL_NAME}/onnx-{variant}"
        self.calls = 0
        self.sentences = 0
        logger.info("loaded %s from %s", self.model_id, path)

    def encode(self, texts: list[str]) -> Vectors:
        with self._lock:
            self.calls += 1
            self.sentences += len(texts)
            parts = [self._encode(texts[i : i + self._batch_size]) for i in range(0, len(texts), self._batch_size)]
        return parts[0] if len(parts) == 1 else np.vstack(parts)

    def _encode(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)

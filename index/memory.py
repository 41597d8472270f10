"""Keeps a worker's resident memory near what it holds, with glibc's `mallopt` and `malloc_trim` (on another C
library nothing happens).

Loading an ONNX graph and encoding a batch of long texts allocate and free large blocks; glibc keeps what is freed
in its heaps, one heap per thread that allocates, so resident memory would stay at the worst moment's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


M_ARENA_MAX = -8  # glibc's malloc.h


@functools.cache
def _glibc(function: str) -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        found: Callable[..., int] = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):
        logger.info("no %s in %s: the allocator keeps its defaults", function, name)
        return None
    return found


def release_freed_memory() -> None:
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim(0)


def limit_heaps(heaps: int) -> None:
    """At most `heaps` malloc arenas (glibc's default grows with the cores): called before the worker starts
    threads, as `MALLOC_ARENA_MAX` would be."""
    mallopt = _glibc("mallopt")
    if mallopt is not None:
        mallopt(M_ARENA_MAX, heaps)

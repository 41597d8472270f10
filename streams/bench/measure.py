"""Small measuring helpers shared by the bench stages: percentiles and a process's peak memory."""

from __future__ import annotations

import resource
import statistics
from pathlib import Path


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 (and count) of `values`, rounded for a report."""
    if not values:
        return {"count": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    if len(values) == 1:
        q = [values[0]] * 99
    else:
        q = statistics.quantiles(values, n=100, method="inclusive")
    return {"count": len(values), "p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2)}


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of `pid`, or of this process."""
    if pid is None:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0

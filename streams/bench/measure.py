"""Small measuring helpers shared by the bench stages: percentiles and a process's peak memory."""

from __future__ import annotations

import resource
from pathlib import Path

from streams.clients.replay import percentile


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 (and count) of `values`, rounded for a report."""
    return {"count": len(values), **{f"p{q}_ms": round(percentile(values, q), 2) for q in (50, 95, 99)}}


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of `pid`, or of this process."""
    if pid is None:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0

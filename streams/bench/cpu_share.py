"""How busy the machine and each process were while a stage ran: CPU time over wall time, as a share of every core
(1.0 = all cores busy), so a latency figure says what else was using the machine."""

from __future__ import annotations

import time
from types import TracebackType

import psutil

OTHER = "other"


def _machine() -> tuple[float, float, float]:
    """(busy, stolen, total) CPU seconds of every core since boot (guest time is already in user time; steal is
    time the hypervisor gave this machine's cores to others)."""
    times = psutil.cpu_times()
    total = float(sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0))
    stolen = float(getattr(times, "steal", 0.0))
    return total - times.idle - getattr(times, "iowait", 0.0) - stolen, stolen, total


def _process(pid: int | None) -> psutil.Process | None:
    try:
        return None if pid is None else psutil.Process(pid)
    except psutil.Error:
        return None  # gone already: counts 0


class CpuShares:
    """`with CpuShares({"worker": pid, ...}) as shares:` … then `shares.result`: each process's share, the
    machine's (`machine`), what no named process used (`other`) and what the hypervisor took (`steal`). A
    process that is gone counts 0."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._processes = {name: process for name, pid in pids.items() if (process := _process(pid)) is not None}
        self.result: dict[str, float] = {}

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def __enter__(self) -> CpuShares:
        self._started = time.monotonic()
        self._machine = _machine()
        self._cpu_at = {name: self._cpu(p) for name, p in self._processes.items()}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        capacity = (time.monotonic() - self._started) * (psutil.cpu_count() or 1)
        if capacity <= 0:
            return
        shares = {name: (self._cpu(p) - self._cpu_at[name]) / capacity for name, p in self._processes.items()}
        busy, stolen, total = _machine()
        elapsed = max(total - self._machine[2], 1e-9)
        machine = (busy - self._machine[0]) / elapsed
        self.result = {
            **{name: round(share, 3) for name, share in shares.items()},
            OTHER: round(max(0.0, machine - sum(shares.values())), 3),
            "machine": round(min(1.0, machine), 3),
            "steal": round((stolen - self._machine[1]) / elapsed, 3),
        }

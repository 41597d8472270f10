"""The soak's instruments: a sampler of each process's resources and the service's state at a fixed interval, a
fitted slope with its 95% interval per series, and the table and the picture of a run."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def open_files(pid: int) -> float:
    return float(len(os.listdir(f"/proc/{pid}/fd")))


@dataclass(frozen=True)
class Series:
    """One thing sampled: `judged` series fail the soak when they grow beyond their noise and by more than
    `tolerance` (in `unit`) over the measured window (a value read in steps, such as RSS or a count, can have no
    noise at all)."""

    name: str
    unit: str
    read: Callable[[], float]
    tolerance: float
    judged: bool = True


@dataclass
class Sampler:
    series: list[Series]
    interval_s: float
    times: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        row = {}
        for series in self.series:
            try:
                row[series.name] = float(series.read())
            except Exception as exc:  # a sample that failed is a gap, said at the end, not a crash of the soak
                self.errors.append(f"{series.name}: {exc!r}")
                row[series.name] = math.nan
        self.times.append((time.monotonic() - self._started) / 60)
        for name, value in row.items():
            self.values.setdefault(name, []).append(value)


@dataclass(frozen=True)
class Trend:
    name: str
    unit: str
    judged: bool
    first: float
    last: float
    slope: float  # per hour
    low: float  # 95% interval of the slope, per hour
    high: float
    noise: float  # the residuals' standard deviation
    window_h: float
    intercept: float  # the fitted value at minute 0
    tolerance: float

    @property
    def grows(self) -> bool:
        """Growth beyond the noise: the whole interval above zero, and more over the window than twice the noise
        and than the series' tolerance."""
        return self.low > 0 and self.slope * self.window_h > max(2 * self.noise, self.tolerance)

    def row(self) -> str:
        verdict = ("grows" if self.grows else "flat") if self.judged else "shown"
        tolerance = f"{self.tolerance:g}" if self.judged else "-"
        return (
            f"| {self.name} ({self.unit}) | {self.first:.1f} | {self.last:.1f} | {self.slope:+.2f} "
            f"[{self.low:+.2f}, {self.high:+.2f}] | {self.noise:.2f} | {tolerance} | {verdict} |"
        )


def trend(series: Series, times_min: list[float], values: list[float], after_min: float) -> Trend:
    """The least-squares slope of the samples taken after `after_min` (the warm-up), with its 95% interval."""
    t = np.array(times_min)
    v = np.array(values)
    keep = (t >= after_min) & ~np.isnan(v)
    t, v = t[keep] / 60, v[keep]  # hours
    if len(t) < 3:
        raise ValueError(f"{series.name}: {len(t)} samples after the warm-up, a slope needs 3")
    fit = stats.linregress(t, v)
    residuals = v - (fit.intercept + fit.slope * t)
    stderr = float(fit.stderr) if math.isfinite(fit.stderr) else 0.0  # a constant series has no spread to scale
    margin = float(stats.t.ppf(0.975, len(t) - 2)) * stderr
    return Trend(
        series.name,
        series.unit,
        series.judged,
        float(v[0]),
        float(v[-1]),
        float(fit.slope),
        float(fit.slope - margin),
        float(fit.slope + margin),
        float(np.std(residuals, ddof=2)),
        float(t[-1] - t[0]),
        float(fit.intercept),
        series.tolerance,
    )


TABLE_HEAD = (
    "| series | first | last | slope per hour [95% interval] | noise (sd) | tolerance | verdict |\n"
    "|---|---|---|---|---|---|---|"
)


def plot(sampler: Sampler, trends: list[Trend], after_min: float, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = math.ceil(len(sampler.series) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3 * rows), squeeze=False)
    by_name = {t.name: t for t in trends}
    for ax, series in zip(axes.flat, sampler.series, strict=False):
        ax.plot(sampler.times, sampler.values[series.name], ".", markersize=3)
        found = by_name.get(series.name)
        if found is not None:
            t = np.array([after_min, sampler.times[-1]])
            ax.plot(t, found.intercept + found.slope * t / 60, "-", linewidth=1.5)
            ax.set_title(f"{series.name}: {found.slope:+.2f} {series.unit}/h", fontsize=9)
        else:
            ax.set_title(series.name, fontsize=9)
        ax.axvline(after_min, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("minutes")
        ax.set_ylabel(series.unit)
    for ax in list(axes.flat)[len(sampler.series) :]:
        ax.axis("off")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)

"""`helpstream bench`: every throughput and latency figure, side by side from one run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streams.settings import Settings


def add_parser(commands: Any) -> None:
    bench = commands.add_parser("bench", help="measure every path side by side: raw, naive, pipeline, latency, ...")
    bench.add_argument("--quick", action="store_true", help="smaller sizes: under 10 minutes on 2 cores")
    bench.add_argument("--out", type=Path, default=Path("bench-out"), help="where bench.json, the chart and logs go")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.bench.runner import run_bench

    return run_bench(settings, quick=args.quick, out=args.out)

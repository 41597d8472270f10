"""`helpstream budget`: each model x backend against each pattern's budget, with a verdict."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

from index.backends import BACKENDS, Backend
from streams.settings import Settings


def add_parser(commands: Any) -> None:
    budget = commands.add_parser(
        "budget", help="when is a model too big? each model x backend against each pattern's budget"
    )
    budget.add_argument(
        "--models",
        help="comma-separated ladder names or model directories (default: every installed rung, then every "
        "model `helpstream tune` wrote under HELPSTREAM_DATA_DIR/tuned)",
    )
    budget.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated backends")
    budget.add_argument("--quick", action="store_true", help="shorter load stages (verdicts for every pattern)")
    budget.add_argument("--out", type=Path, default=Path("budget-out"), help="where budget.json, the chart, logs go")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from index.models import ModelUnavailable, resolve
    from streams.budget.runner import default_models, run_budget

    models = args.models.split(",") if args.models else default_models(settings)
    backends = args.backends.split(",")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        print(f"helpstream budget: unknown backend {unknown[0]!r}: expected {', '.join(BACKENDS)}")
        return 2
    for model in models:
        try:
            resolve(model)
        except ModelUnavailable as exc:
            print(f"helpstream budget: {model}: {exc}")
            return 2
    return run_budget(settings, models=models, backends=cast(list[Backend], backends), quick=args.quick, out=args.out)

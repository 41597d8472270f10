"""`helpstream tune`: fine-tune a ladder model on the content's example queries and agents' usage; writes a model
directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streams.settings import Settings
from streams.tune.precision import REQUESTS


def add_parser(commands: Any) -> None:
    tune = commands.add_parser(
        "tune", help="fine-tune a model on the CMS's own example queries (CPU), before/after figures"
    )
    tune.add_argument("--base", default="minilm-l6", help="model to start from: a ladder name with weights or a dir")
    tune.add_argument(
        "--content", type=Path, help="content.updated JSON lines to learn from (default: the demo content)"
    )
    tune.add_argument(
        "--chats", type=Path, help="labelled held-out chats CSV (text,category) to report on (default: the demo's)"
    )
    tune.add_argument(
        "--usage",
        type=Path,
        help="agents' usage to learn from too, as `helpstream usage --out` writes it (a slice of its chats kept out)",
    )
    tune.add_argument(
        "--out", type=Path, help="model directory to write (default: HELPSTREAM_DATA_DIR/tuned/BASE-tuned)"
    )
    tune.add_argument("--seed", type=int, default=13, help="seeds the split, the batches and the weights' updates")
    tune.add_argument("--kept-out", type=float, default=0.1, help="share of each item's queries kept out of training")
    tune.add_argument("--epochs", type=float, default=None, help="passes over the training queries (default: recipe)")
    tune.add_argument(
        "--max-steps", type=int, default=None, help="at most this many training steps, whatever the epochs"
    )
    tune.add_argument(
        "--precision",
        choices=REQUESTS,
        default="auto",
        help="the encoder's training precision; auto: bf16 where the CPU computes it natively (AVX512_BF16, AMX), "
        "else fp32 (default: auto)",
    )
    tune.add_argument(
        "--trainings",
        type=int,
        choices=(1, 2),
        default=None,
        help="2: train again on every example query and average the two fine-tunes; 1: the fine-tune the kept-out "
        "slice chose the mix for (default: 2 in bf16, 1 in fp32, which costs twice as much per step)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tune.run import run_tune

    out = args.out or settings.data_dir / "tuned" / f"{Path(args.base).name}-tuned"
    return run_tune(
        settings,
        base=args.base,
        out=out,
        content_path=args.content,
        chats_path=args.chats,
        seed=args.seed,
        kept_out=args.kept_out,
        epochs=args.epochs,
        precision=args.precision,
        trainings=args.trainings,
        usage_path=args.usage,
        max_steps=args.max_steps,
    )

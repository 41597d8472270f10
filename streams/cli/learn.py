"""`helpstream learn`: one learning cycle, run on a schedule: tune a candidate from agents' usage, add it, let
interleaving judge it, promote or retire it (`HELPSTREAM_LEARN` turns it off or leaves the promote to an operator)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streams.settings import Settings


def add_parser(commands: Any) -> None:
    learn = commands.add_parser(
        "learn", help="tune a candidate from agents' usage, add it, and promote or retire it on interleaving's verdict"
    )
    learn.add_argument(
        "--base",
        default="minilm-l6",
        help="the model the first cycle tunes (default: minilm-l6); later ones tune the last",
    )
    learn.add_argument("--from-base", action="store_true", help="tune the base model, not the last learned one")
    learn.add_argument("--content", type=Path, help="the CMS export, content.updated JSON lines (default: the demo's)")
    learn.add_argument(
        "--chats", type=Path, help="labelled chats CSV (text,category) to report on (default: the demo's)"
    )
    learn.add_argument(
        "--max-steps", type=int, default=80, help="training steps: bounds the cycle's time (default: 80)"
    )
    learn.add_argument("--seed", type=int, default=13, help="seeds the kept-out slices, the batches and the weights")
    learn.add_argument(
        "--decide-within",
        type=float,
        default=600,
        metavar="S",
        help="wait up to S seconds for the verdict; undecided, the candidate stays and the next run judges it",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.tune.learn import Learn, Options

    options = Options(
        base=args.base,
        content=args.content,
        chats=args.chats,
        max_steps=args.max_steps,
        seed=args.seed,
        from_base=args.from_base,
        decide_within_s=args.decide_within,
    )
    return Learn(settings, options).run()

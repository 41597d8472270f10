"""`helpstream demo`: the whole pipeline on the embedded broker with the demo content and replayed chats."""

from __future__ import annotations

import argparse
from typing import Any

from streams.settings import Settings


def add_parser(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the whole pipeline on the embedded broker and demo data")
    demo.add_argument("--once", action="store_true", help="exit after the summary instead of serving /search")
    demo.add_argument("--chats", type=int, default=300, help="how many held-out Banking77 chats to replay")
    demo.add_argument("--rate", type=float, default=50.0, help="chats per second")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.demo.run import run_demo

    return run_demo(settings, once=args.once, chats=args.chats, rate=args.rate)

"""`helpstream broker`: the embedded Tansu broker in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from streams.settings import Settings


def add_parser(commands: Any) -> None:
    broker = commands.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    broker.add_argument("--port", type=int, default=9092)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.local.tansu import EmbeddedBroker

    with EmbeddedBroker(port=args.port) as broker:
        assert broker.process is not None
        print(f"Tansu broker on {broker.bootstrap} (pid {broker.process.pid}); Ctrl-C stops it")
        broker.process.wait()
    return 0

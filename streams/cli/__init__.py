"""The `helpstream` command: one module per subcommand, each with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import logging
import sys
from types import ModuleType

from streams.cli.extras import missing_extra
from streams.settings import SettingsError, load_settings


def _commands() -> list[ModuleType]:
    from streams.cli import (
        acl,
        bench,
        broker,
        budget,
        demo,
        learn,
        model,
        publish,
        schemas,
        search,
        tune,
        usage,
        worker,
    )

    return [worker, demo, publish, search, model, usage, learn, acl, bench, budget, tune, broker, schemas]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="helpstream",
        description="Puts the right help content in front of people: chat recommendations, CMS sync, help search.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    runners = {}
    for command in _commands():
        name = command.__name__.rsplit(".", 1)[-1]
        command.add_parser(subparsers)
        runners[name] = command.run
    args = parser.parse_args(argv)
    needed = missing_extra(args.command)
    if needed is not None:
        print(f"helpstream: {needed}", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which SIMD build it tried, at every start
    if args.command in ("bench", "budget", "demo", "model", "learn"):
        # Their clients join groups and meet freshly created topics every stage: aiokafka's notes about that
        # would bury the progress lines and the answers (a worker's own log keeps them).
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
        logging.getLogger("streams.topology.admin").setLevel(logging.WARNING)
    try:
        code: int = runners[args.command](args, settings)
        return code
    except KeyboardInterrupt:
        return 130
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 1

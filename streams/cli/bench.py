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
    bench.add_argument(
        "--interleaving",
        action="store_true",
        help="only judge interleaving against the truth: models of known quality, simulated agents (no broker)",
    )
    bench.add_argument(
        "--learning",
        action="store_true",
        help="only simulate learning from usage: a sparse CMS, simulated agents, `tune` cycles (no broker)",
    )
    bench.add_argument("--cycles", type=int, default=3, help="with --learning: learning cycles")
    bench.add_argument(
        "--per-cycle",
        type=int,
        default=2870,
        help="with --learning: chats per cycle (three take nearly every unseen chat)",
    )
    bench.add_argument("--max-steps", type=int, default=80, help="with --learning: each tune's training steps")
    bench.add_argument(
        "--from-base", action="store_true", help="with --learning: every cycle tunes the base model, not the last one"
    )
    bench.add_argument(
        "--seed",
        type=int,
        default=13,
        help="with --learning: the sparse CMS's, kept-out slices' and training's seed; with --interleaving --tuned: "
        "the seed that --learning run used (it picks the sparse CMS)",
    )
    bench.add_argument(
        "--against",
        type=Path,
        help="with --learning: a model `helpstream tune` wrote from the full CMS; each cycle's model is compared with "
        "it chat by chat on the held-out chats",
    )
    bench.add_argument("--chats", type=int, default=3000, help="with --interleaving: chats in the stream")
    bench.add_argument("--orderings", type=int, default=20, help="with --interleaving: orderings of those chats")
    bench.add_argument(
        "--tuned",
        type=Path,
        help="with --interleaving: a model `bench --learning` wrote, judged against the frozen one on held-out chats",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.interleaving:
        from streams.bench.interleaving import run_interleaving

        return run_interleaving(
            settings.data_dir / "models",
            chats=args.chats,
            orderings=args.orderings,
            threads=settings.inference_threads,
            tuned=args.tuned,
            seed=args.seed,
        )
    if args.learning:
        from streams.bench.learning import run_learning

        return run_learning(
            settings,
            cycles=args.cycles,
            per_cycle=args.per_cycle,
            max_steps=args.max_steps,
            seed=args.seed,
            out=args.out,
            warm=not args.from_base,
            against=args.against,
        )
    from streams.bench.runner import run_bench

    return run_bench(settings, quick=args.quick, out=args.out)

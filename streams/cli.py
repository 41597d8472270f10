"""The `helpstream` command: worker, demo, publish, search, bench, broker and schemas."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import urllib.parse
from pathlib import Path

import orjson

from streams.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="helpstream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("worker", help="run a worker against the configured broker and Redis")

    demo = commands.add_parser("demo", help="run the whole pipeline on the embedded broker and demo data")
    demo.add_argument("--once", action="store_true", help="exit after the summary instead of serving /search")
    demo.add_argument("--chats", type=int, default=300, help="how many held-out Banking77 chats to replay")
    demo.add_argument("--rate", type=float, default=50.0, help="chats per second")

    publish = commands.add_parser("publish", help="produce contract events")
    what = publish.add_subparsers(dest="what", required=True)
    content = what.add_parser("content", help="CMS export as JSONL content.updated events")
    source = content.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path)
    source.add_argument("--demo", action="store_true", help="the bundled demo content")
    chats = what.add_parser("chats", help="chat.started events from a CSV (text,category) or JSONL file")
    chats.add_argument("file", type=Path)
    chats.add_argument("--rate", type=float, default=None, help="chats per second (default: as fast as possible)")
    chats.add_argument("--limit", type=int, default=None)

    search = commands.add_parser("search", help="ask a running worker's /search")
    search.add_argument("text")
    search.add_argument("--k", type=int, default=5)
    search.add_argument("--kind", default="help_article", choices=["help_article", "saved_response"])
    search.add_argument("--url", default=None, help="worker URL (default: from HELPSTREAM_WEB_HOST/PORT)")

    bench = commands.add_parser("bench", help="measure every path side by side: raw, naive, pipeline, latency, ...")
    bench.add_argument("--quick", action="store_true", help="smaller sizes: under 10 minutes on 2 cores")
    bench.add_argument("--out", type=Path, default=Path("bench-out"), help="where bench.json, the chart and logs go")

    broker = commands.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    broker.add_argument("--port", type=int, default=9092)

    schemas = commands.add_parser("schemas", help="write the contracts as JSON Schema files")
    schemas.add_argument("--out", type=Path, default=Path("schemas/json"))

    args = parser.parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in ("bench", "demo"):
        # Their clients join groups and meet freshly created topics every stage: aiokafka's notes about that
        # would bury the progress lines (a worker's own log keeps them).
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
    try:
        return _run(args, settings)
    except KeyboardInterrupt:
        return 130
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        print(f"helpstream: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "worker":
        return _worker(settings)
    if args.command == "demo":
        from streams.demo import run_demo

        return run_demo(settings, once=args.once, chats=args.chats, rate=args.rate)
    if args.command == "publish":
        return _publish(args, settings)
    if args.command == "search":
        return _search(args, settings)
    if args.command == "bench":
        from streams.bench.runner import run_bench

        return run_bench(settings, quick=args.quick, out=args.out)
    if args.command == "broker":
        return _broker(args.port)
    return _schemas(args.out)


def _require_broker(settings: Settings) -> str:
    if not settings.broker:
        raise ConnectionError("no broker configured: set HELPSTREAM_BROKER=host:port (or run `helpstream demo`)")
    return settings.broker


def _worker(settings: Settings) -> int:
    from faust.worker import Worker

    from streams.topic_admin import ensure_topics
    from streams.topics import topic_specs

    asyncio.run(ensure_topics(_require_broker(settings), topic_specs(settings)))
    from streams.app import app, runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime.warm_up()
    worker = Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from streams import publish

    bootstrap = _require_broker(settings)
    if args.what == "content":
        items = publish.read_content(publish.DEMO_CONTENT if args.demo else args.file)
        asyncio.run(publish.publish_content(bootstrap, settings.topic_content, items))
        print(f"published {len(items)} content.updated events to {settings.topic_content}")
    else:
        chats = publish.read_chats(args.file)[: args.limit]
        asyncio.run(publish.publish_chats(bootstrap, settings.topic_chat, chats, rate=args.rate))
        print(f"published {len(chats)} chat.started events to {settings.topic_chat}")
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker_process import get_json

    base = args.url or f"http://{settings.web_host}:{settings.web_port}"
    query = urllib.parse.urlencode({"q": args.text, "k": args.k, "kind": args.kind})
    status, body = get_json(f"{base}/search?{query}")
    if status != 200:
        print(f"helpstream: {status}: {body.get('error') if isinstance(body, dict) else body}", file=sys.stderr)
        return 1
    for rank, hit in enumerate(body["results"], 1):
        print(f"{rank:>2}. {hit['score']:.3f}  {hit['content_id']:<40} {hit['title']}")
    print(f"({body['model']}, {body['took_ms']} ms)")
    return 0


def _broker(port: int) -> int:
    from streams.embedded_broker import EmbeddedBroker

    with EmbeddedBroker(port=port) as broker:
        print(
            f"Tansu broker on {broker.bootstrap} (pid {broker.process.pid if broker.process else '?'}); Ctrl-C stops it"
        )
        assert broker.process is not None
        broker.process.wait()
    return 0


def _schemas(out: Path) -> int:
    from schemas.json_schema import json_schemas

    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / name).write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

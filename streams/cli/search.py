"""`helpstream search`: ask a running worker's `/search` and print the results (help articles from the public
listener; saved responses, which only agents see, from the internal one on loopback)."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from typing import Any

from schemas.types import KINDS
from streams.settings import Settings


def add_parser(commands: Any) -> None:
    search = commands.add_parser("search", help="ask a running worker's /search")
    search.add_argument("text")
    search.add_argument("--k", type=int, default=5)
    search.add_argument("--kind", default="help_article", choices=KINDS)
    search.add_argument(
        "--url",
        default=None,
        help="worker URL (default: the public listener, HELPSTREAM_PUBLIC_HOST/PORT, for help articles; the "
        "internal one, HELPSTREAM_WEB_HOST/PORT, for saved responses)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.clients.http import get_json

    default = settings.public_url if args.kind == "help_article" else settings.internal_url
    base = args.url or default
    query = urllib.parse.urlencode({"q": args.text, "k": args.k, "kind": args.kind})
    status, body = get_json(f"{base}/search?{query}")
    if status != 200:
        print(f"helpstream: {status}: {body.get('error') if isinstance(body, dict) else body}", file=sys.stderr)
        return 1
    for rank, hit in enumerate(body["results"], 1):
        print(f"{rank:>2}. {hit['score']:.3f}  {hit['content_id']:<40} {hit['title']}")
    print(f"({body['model']}, {body['took_ms']} ms)")
    return 0

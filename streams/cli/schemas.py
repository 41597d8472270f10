"""`helpstream schemas`: write every contract as a JSON Schema file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from streams.settings import Settings


def add_parser(commands: Any) -> None:
    schemas = commands.add_parser("schemas", help="write the contracts as JSON Schema files")
    schemas.add_argument("--out", type=Path, default=Path("schemas/json"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.json_schema import json_schemas

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / name).write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        print(out / name)
    return 0

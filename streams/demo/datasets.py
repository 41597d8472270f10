"""The demo's files, read from the installed package (`streams/demo/data/`, built by `build_content`)."""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable


def _data(name: str) -> Traversable:
    return importlib.resources.files("streams.demo") / "data" / name


def demo_content() -> Traversable:
    """One `content.updated` JSON per line: a saved response per Banking77 intent, plus help articles."""
    return _data("content.jsonl")


def demo_chats() -> Traversable:
    """Held-out Banking77 queries (`text,category`), never used as example queries."""
    return _data("chats.csv")

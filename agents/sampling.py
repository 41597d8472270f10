"""Which chats a candidate model is judged on: a hash of the chat id, so every worker and every retry pick the same
ones. Shadow scoring takes the low end of the hash's range and interleaving the high end, so no chat is both
(`Settings` keeps the two shares at most 1 together)."""

from __future__ import annotations

import zlib

_RANGE = 10_000


def _position(chat_id: str) -> int:
    return zlib.crc32(chat_id.encode()) % _RANGE


def _cut(share: float) -> int:
    """Whole positions, so two shares adding up to 1 meet exactly, with no chat in both."""
    return round(share * _RANGE)


def shadowed(chat_id: str, share: float) -> bool:
    """A candidate answers this chat in the shadow, after the active model's recommendation is out."""
    return _position(chat_id) < _cut(share)


def interleaved(chat_id: str, share: float) -> bool:
    """The recommendation of this chat interleaves the active model's ranking with a candidate's."""
    return _position(chat_id) >= _RANGE - _cut(share)

"""The latest recommendation per chat, kept in Redis with a TTL for `GET /recommendations/{chat_id}`."""

from __future__ import annotations

from index.kv import KeyValue
from schemas import Recommendation, encode

_PREFIX = "helpstream:rec:"


async def save(kv: KeyValue, recommendations: list[Recommendation], ttl_s: float) -> None:
    await kv.set_many({_PREFIX + rec.chat_id: encode(rec) for rec in recommendations}, ttl_s=ttl_s)


async def load(kv: KeyValue, chat_id: str) -> bytes | None:
    return (await kv.get_many([_PREFIX + chat_id]))[0]

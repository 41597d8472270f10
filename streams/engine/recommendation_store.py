"""The latest recommendation per chat, kept in Redis with a TTL for `GET /recommendations/{chat_id}`."""

from __future__ import annotations

from collections.abc import Callable

from index.kv import KeyValue
from schemas import Recommendation, encode

_PREFIX = "helpstream:rec:"


def redis_key(chat_id: str) -> str:
    return _PREFIX + chat_id


class RecommendationStore:
    """Reads the key-value store through `kv()` at each call: it exists only once the engine has started."""

    def __init__(self, kv: Callable[[], KeyValue], ttl_s: float) -> None:
        self._kv = kv
        self._ttl_s = ttl_s

    async def save(self, recommendations: list[Recommendation]) -> None:
        await self._kv().set_many({redis_key(rec.chat_id): encode(rec) for rec in recommendations}, ttl_s=self._ttl_s)

    async def load(self, chat_id: str) -> bytes | None:
        return (await self._kv().get_many([redis_key(chat_id)]))[0]

"""The latest recommendation per chat, kept in Redis with a TTL for `GET /recommendations/{chat_id}`, and the
chat's text with its personal data masked, for the usage examples agents' feedback makes (`agents.feedback`).

A copy for convenience: the `recommendations` topic is the delivery. When Redis fails or hangs, the copy is
skipped (logged and counted) and the pipeline goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from redis.exceptions import RedisError

from index.kv import KeyValue
from schemas import Recommendation, encode

logger = logging.getLogger(__name__)

_PREFIX = "helpstream:rec:"
_TEXT = "helpstream:text:"


def redis_key(chat_id: str) -> str:
    return _PREFIX + chat_id


class RecommendationStore:
    """Reads the key-value store through `kv()` at each call: it exists only once the engine has started."""

    def __init__(self, kv: Callable[[], KeyValue], ttl_s: float) -> None:
        self._kv = kv
        self._ttl_s = ttl_s
        self.failures = 0

    async def save(self, recommendations: list[Recommendation], texts: Mapping[str, str] | None = None) -> None:
        """`texts`: each chat's text, masked, by chat id."""
        items = {redis_key(rec.chat_id): encode(rec) for rec in recommendations}
        items.update({_TEXT + chat_id: text.encode() for chat_id, text in (texts or {}).items()})
        try:
            await self._kv().set_many(items, ttl_s=self._ttl_s)
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning(
                "could not keep %s recommendations in Redis (%r); they are delivered all the same", len(items), exc
            )

    async def load(self, chat_id: str) -> bytes | None:
        return (await self._kv().get_many([redis_key(chat_id)]))[0]

    async def text(self, chat_id: str) -> str | None:
        """The chat's masked text, or None when it is unknown (expired, Redis down)."""
        try:
            (raw,) = await self._kv().get_many([_TEXT + chat_id])
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning("could not read the text of chat %s (%r): no usage example for it", chat_id, exc)
            return None
        return None if raw is None else raw.decode()

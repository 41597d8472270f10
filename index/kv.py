"""A small async key-value store: Redis when it answers, else an in-process stand-in with a loud warning."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class KeyValue(Protocol):
    description: str
    durable: bool

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set_many(self, items: Mapping[str, bytes], ttl_s: float | None = None) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class RedisKeyValue:
    durable = True

    def __init__(self, client: aioredis.Redis, url: str) -> None:
        self._client = client
        self.description = f"redis {url}"

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = await self._client.mget(list(keys))
        return [value.encode() if isinstance(value, str) else value for value in values]

    async def set_many(self, items: Mapping[str, bytes], ttl_s: float | None = None) -> None:
        if not items:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(key, value, px=None if ttl_s is None else int(ttl_s * 1000))
            await pipe.execute()

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()


class MemoryKeyValue:
    """Process-local stand-in for a laptop without Redis: nothing is shared between workers or restarts."""

    durable = False
    description = "in-process memory (no Redis)"

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        out: list[bytes | None] = []
        for key in keys:
            entry = self._data.get(key)
            if entry is not None and entry[1] is not None and entry[1] < now:
                del self._data[key]
                entry = None
            out.append(None if entry is None else entry[0])
        return out

    async def set_many(self, items: Mapping[str, bytes], ttl_s: float | None = None) -> None:
        expires = None if ttl_s is None else time.monotonic() + ttl_s
        for key, value in items.items():
            self._data[key] = (value, expires)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()


async def connect(url: str, *, required: bool) -> KeyValue:
    """Redis at `url`; when it does not answer, raise if `required`, else warn and fall back to memory."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if required:
            raise ConnectionError(f"Redis at {url} does not answer: {exc}") from exc
        logger.warning(
            "REDIS UNAVAILABLE at %s (%s): using an in-process cache; embeddings and recommendations are "
            "not shared between workers and are lost on restart",
            url,
            exc,
        )
        return MemoryKeyValue()
    return RedisKeyValue(client, url)

"""A small async key-value store: Redis when it answers, else an in-process stand-in with a loud warning."""

from __future__ import annotations

import logging
import ssl
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError, RedisError, ResponseError

logger = logging.getLogger(__name__)


class KeyValue(Protocol):
    description: str
    durable: bool

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set_many(self, items: Mapping[str, bytes], ttl_s: float | None = None) -> None: ...

    async def add_once(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Set `key` unless it is already set; whether this call set it."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def redacted(url: str) -> str:
    """The URL without its password (in the authority or as `?password=`), for logs, errors and `/healthz`."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is not None:
        parsed = parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1))
    if "password" in urllib.parse.parse_qs(parsed.query):
        query = [(k, "***" if k == "password" else v) for k, v in urllib.parse.parse_qsl(parsed.query)]
        parsed = parsed._replace(query=urllib.parse.urlencode(query, safe="*"))
    return urllib.parse.urlunsplit(parsed)


class RedisKeyValue:
    durable = True

    def __init__(self, client: aioredis.Redis, url: str) -> None:
        self._client = client
        self.description = f"redis {redacted(url)}"

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

    async def add_once(self, key: str, value: bytes, ttl_s: float) -> bool:
        return bool(await self._client.set(key, value, nx=True, px=int(ttl_s * 1000)))

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

    async def add_once(self, key: str, value: bytes, ttl_s: float) -> bool:
        if (await self.get_many([key]))[0] is not None:
            return False
        await self.set_many({key: value}, ttl_s)
        return True

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()


# Redis answers in well under a millisecond: a hung Redis should cost a batch one second, not five.
_CONNECT_TIMEOUT_S = 2.0
_TIMEOUT_S = 1.0


class RedisRefused(ConnectionError):
    """Redis answered but refused us (wrong password, untrusted certificate): a setting is wrong, so no fallback."""


async def connect(url: str, *, required: bool, ca_file: str | None = None) -> KeyValue:
    """Redis at `url`; when it does not answer, raise if `required`, else warn and fall back to memory.

    A refusal (authentication, TLS verification) always raises `RedisRefused`: it is a wrong setting, not an
    absent service."""
    tls: dict[str, Any] = {}
    if url.lower().startswith("rediss://"):
        # Pinned, whatever the installed redis-py defaults to.
        tls = {
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
            **({"ssl_ca_certs": ca_file} if ca_file else {}),
        }
    client = aioredis.Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_TIMEOUT_S, **tls)
    try:
        await client.ping()
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError, ssl.SSLError) as exc:
        await client.aclose()
        raise RedisRefused(f"Redis at {redacted(url)} refused the connection: {_one_line(exc)}") from None
    except ResponseError as exc:
        await client.aclose()
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise RedisRefused(f"Redis at {redacted(url)} refused the connection: {_one_line(exc)}") from None
        raise
    except (RedisError, OSError) as exc:
        await client.aclose()
        if isinstance(exc.__context__, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
            raise RedisRefused(f"Redis at {redacted(url)} refused the connection: {_one_line(exc)}") from None
        if required:
            raise ConnectionError(f"Redis at {redacted(url)} does not answer: {_one_line(exc)}") from None
        logger.warning(
            "REDIS UNAVAILABLE at %s (%s): using an in-process cache; embeddings and recommendations are "
            "not shared between workers and are lost on restart",
            redacted(url),
            _one_line(exc),
        )
        return MemoryKeyValue()
    return RedisKeyValue(client, url)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

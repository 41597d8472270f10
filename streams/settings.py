"""The one settings object, read from `HELPSTREAM_*` environment variables (documented in the README).

`load_settings()` is the only reader of the environment; a bad value stops the process with a one-line message
that names the variable and the value (`SettingsError`).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.backends import Backend

ENV_PREFIX = "HELPSTREAM_"

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingsError(ValueError):
    """A setting has a value helpstream cannot use; the message names the variable and the value."""


def parse_broker(value: str) -> str:
    """`host:port[,host:port]` or Faust's `kafka://host:port[;host:port]` form, as `host:port,host:port`.

    Empty stays empty: `helpstream demo` then starts the embedded broker.
    """
    servers: list[str] = []
    for part in re.split(r"[,;]", value.strip()):
        server = part.strip()
        if not server:
            continue
        server = server.removeprefix("kafka://")
        match = _HOST_PORT.match(server)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(
                f"expected host:port[,host:port] or kafka://host:port, got {value!r} ({server!r} is not host:port)"
            )
        servers.append(server)
    return ",".join(servers)


def check_redis_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(f"the port of {_redacted(value)!r} is not a number from 1 to 65535") from None
    if parsed.scheme not in _REDIS_SCHEMES:
        raise ValueError(f"expected redis://host:port/db, rediss://… or unix://…, got {_redacted(value)!r}")
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ValueError(f"{_redacted(value)!r} has no host")
    if port == 0:
        raise ValueError(f"the port of {_redacted(value)!r} is not a number from 1 to 65535")
    db = parsed.path.strip("/")
    if parsed.scheme != "unix" and db and not db.isdigit():
        raise ValueError(f"the database of {_redacted(value)!r} must be a number, got {db!r}")
    return value


def _redacted(url: str) -> str:
    """The URL without its password, so that errors and logs never show a secret."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    broker: str = Field(
        "",
        description="Kafka bootstrap servers `host:port[,host:port]` (or `kafka://host:port`); empty: `demo` starts "
        "the embedded broker",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the embedding cache and recommendations")
    require_services: bool = Field(
        False,
        description="fail instead of falling back or skipping when Kafka or Redis is missing (set in CI)",
    )
    web_host: str = Field("127.0.0.1", description="address the worker's HTTP server binds to")
    web_port: int = Field(6066, ge=1, le=65535, description="port of `/search`, `/healthz`, `/metrics`")
    data_dir: Path = Field(Path(".helpstream"), description="where the worker keeps local state")
    app_id: str = Field("helpstream", description="Kafka consumer group and prefix of internal topics")
    topic_chat: str = Field("chat.started", description="chats from the chat platform")
    topic_content: str = Field("content.updated", description="CMS changes")
    topic_recommendations: str = Field("recommendations", description="recommendations for the agent UI")
    topic_dead_letter: str = Field("helpstream.dead-letter", description="malformed events, with the reason")
    chat_partitions: int = Field(4, ge=1, description="partitions of the chat and recommendations topics")
    encoder: Backend = Field("onnx", description="model backend: torch, onnx (fp32) or onnx-int8")
    inference_threads: int = Field(
        2, ge=1, description="cores for the model (onnx: calls side by side; torch: threads of one call)"
    )
    batch_max: int = Field(64, ge=1, le=1024, description="most texts encoded in one model call")
    batch_wait_ms: float = Field(5.0, ge=0, description="longest a batch waits for more events under load")
    top_k: int = Field(3, ge=1, le=50, description="saved responses per recommendation")
    recommendation_ttl_s: int = Field(86400, ge=1, description="how long `/recommendations/{chat_id}` keeps one")
    log_level: str = Field("info", description="worker log level")

    @field_validator("broker")
    @classmethod
    def _broker_servers(cls, value: str) -> str:
        return parse_broker(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return check_redis_url(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"expected debug, info, warning, error or critical, got {value!r}")
        return value.lower()

    @property
    def redis_url_redacted(self) -> str:
        return _redacted(self.redis_url)


def load_settings() -> Settings:
    """Settings from the environment, or `SettingsError` naming the first bad variable and its value."""
    try:
        return Settings()  # type: ignore[call-arg]  # pydantic-settings fills fields from the environment
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = f"{ENV_PREFIX}{field.upper()}"
    value = os.environ.get(variable, error.get("input"))
    shown = _redacted(str(value)) if field == "redis_url" else str(value)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"invalid {variable}={shown!r}: {message}"


def child_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """The environment for a child worker process: this one's, with `settings` (and overrides) as HELPSTREAM_*."""
    values = {**settings.model_dump(), **overrides}
    env = dict(os.environ)
    env.update(
        {
            f"{ENV_PREFIX}{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in values.items()
        }
    )
    return env


def isolated(settings: Settings, run: str, **overrides: Any) -> Settings:
    """A copy with a consumer group and topics of its own, for tests and benches that share one broker."""
    return settings.model_copy(
        update={
            "app_id": f"helpstream-{run}",
            "topic_chat": f"{run}.chat.started",
            "topic_content": f"{run}.content.updated",
            "topic_recommendations": f"{run}.recommendations",
            "topic_dead_letter": f"{run}.dead-letter",
            **overrides,
        }
    )

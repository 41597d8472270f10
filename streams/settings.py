"""The one settings object, read from `HELPSTREAM_*` environment variables (documented in the README)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.backends import Backend


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPSTREAM_", frozen=True)

    broker: str = Field("", description="Kafka bootstrap servers `host:port[,host:port]`; empty: `demo` starts Tansu")
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

    @property
    def content_table(self) -> str:
        return "content-vectors"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # pydantic-settings fills fields from the environment


def child_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """The environment for a child worker process: this one's, with `settings` (and overrides) as HELPSTREAM_*."""
    values = {**settings.model_dump(), **overrides}
    env = dict(os.environ)
    env.update(
        {
            f"HELPSTREAM_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
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

"""Every topic helpstream reads or writes, declared in one place with its partitions and cleanup policy."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """What `ensure_topics` creates before a worker starts (Tansu ignores partition counts it auto-creates)."""
    return [
        TopicSpec(settings.topic_chat, settings.chat_partitions),
        TopicSpec(settings.topic_recommendations, settings.chat_partitions),
        # One partition: CMS edits are rare, and the replicated table's changelog must match it.
        TopicSpec(settings.topic_content, 1),
        TopicSpec(settings.topic_dead_letter, 1),
        TopicSpec(content_changelog(settings), 1, compacted=True),
    ]


def content_changelog(settings: Settings) -> str:
    return f"{settings.app_id}-{settings.content_table}-changelog"


@dataclass(frozen=True)
class Topics:
    chat: faust.TopicT
    content: faust.TopicT
    recommendations: faust.TopicT
    dead_letter: faust.TopicT


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Raw-bytes topics: payloads are validated by `schemas`, so a malformed one reaches the dead-letter path."""

    def raw(name: str, partitions: int) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions,
        )

    return Topics(
        chat=raw(settings.topic_chat, settings.chat_partitions),
        content=raw(settings.topic_content, 1),
        recommendations=raw(settings.topic_recommendations, settings.chat_partitions),
        dead_letter=raw(settings.topic_dead_letter, 1),
    )

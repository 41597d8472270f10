"""Every topic helpstream reads or writes, declared once: name, partitions, replication, cleanup policy and how long
it keeps records."""

from __future__ import annotations

from dataclasses import dataclass, replace

import faust

from streams.settings import Settings

CONTENT_TABLE = "content-vectors"
# CMS edits are rare and the replicated table's changelog must have as many partitions as its source topic.
CONTENT_PARTITIONS = 1
DEAD_LETTER_PARTITIONS = 1
FEEDBACK_PARTITIONS = 1
# The registry's and the figures' records are read in order by every worker and command: one partition each.
MODELS_PARTITIONS = 1

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    replication: int = 1
    min_insync: int | None = None  # None: the broker's default
    retention_ms: int | None = None  # None: the broker's default (compacted topics keep each live key)

    def configs(self) -> dict[str, str]:
        """The topic configs helpstream creates it with and checks an existing one against."""
        configs = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_ms is not None and not self.compacted:
            configs["retention.ms"] = str(self.retention_ms)
        if self.min_insync is not None:
            configs["min.insync.replicas"] = str(self.min_insync)
        return configs


def _days(days: float) -> int:
    return round(days * DAY_MS)


def content_changelog(settings: Settings) -> str:
    """Faust's name for the changelog of the content-vectors table."""
    return f"{settings.app_id}-{CONTENT_TABLE}-changelog"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """What a worker creates before it starts (Tansu ignores the partition count of topics it auto-creates)."""
    chats, letters, events = (
        _days(settings.retention_chat_days),
        _days(settings.retention_dead_letter_days),
        _days(settings.retention_events_days),
    )
    specs = [
        TopicSpec(settings.topic_chat, settings.chat_partitions, retention_ms=chats),
        TopicSpec(settings.topic_recommendations, settings.chat_partitions, retention_ms=chats),
        TopicSpec(settings.topic_content, CONTENT_PARTITIONS, retention_ms=events),
        TopicSpec(settings.topic_dead_letter, DEAD_LETTER_PARTITIONS, retention_ms=letters),
        TopicSpec(settings.topic_feedback, FEEDBACK_PARTITIONS, retention_ms=events),
        # Customers' words, masked: kept no longer than the chats they come from.
        TopicSpec(settings.topic_usage, FEEDBACK_PARTITIONS, retention_ms=chats),
        TopicSpec(content_changelog(settings), CONTENT_PARTITIONS, compacted=True),
        TopicSpec(settings.topic_models, MODELS_PARTITIONS, compacted=True),
        TopicSpec(settings.topic_figures, MODELS_PARTITIONS, compacted=True),
    ]
    replicas, min_insync = settings.replication_factor, settings.min_insync_replicas
    return [replace(spec, replication=replicas, min_insync=min_insync) for spec in specs]


@dataclass(frozen=True)
class Topics:
    chat: faust.TopicT
    content: faust.TopicT
    recommendations: faust.TopicT
    dead_letter: faust.TopicT
    feedback: faust.TopicT
    usage: faust.TopicT


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Raw-bytes topics: payloads are validated by `schemas`, so a malformed one reaches the dead-letter path."""
    specs = {spec.name: spec for spec in topic_specs(settings)}

    def raw(name: str) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=specs[name].partitions,
            replicas=specs[name].replication,
        )

    return Topics(
        chat=raw(settings.topic_chat),
        content=raw(settings.topic_content),
        recommendations=raw(settings.topic_recommendations),
        dead_letter=raw(settings.topic_dead_letter),
        feedback=raw(settings.topic_feedback),
        usage=raw(settings.topic_usage),
    )

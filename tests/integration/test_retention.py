"""Customers' words are kept as long as the settings say: every topic helpstream creates on Apache Kafka carries
its retention or is compacted, and a topic that already exists with another retention is reported, not altered."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.clients.kafka import KafkaConnection
from streams.settings import Settings
from streams.topology.admin import ensure_topics
from streams.topology.topics import DAY_MS, content_changelog, topic_specs


async def configs(settings: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(**KafkaConnection.of(settings).client_options())
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    return {r[3]: {e[0]: e[1] for e in r[4]} for response in responses for r in response.resources}


async def test_topics_are_created_with_the_retention_of_the_settings_and_a_differing_one_is_reported(
    make_settings: Callable[..., Settings], figures: list[tuple[str, str]]
) -> None:
    settings = make_settings(retention_chat_days=2)
    assert await ensure_topics(KafkaConnection.of(settings), topic_specs(settings)) == []
    names = [spec.name for spec in topic_specs(settings)]
    found = await configs(settings, names)
    kept = {name: found[name]["retention.ms"] for name in names if found[name]["cleanup.policy"] == "delete"}
    assert kept == {
        settings.topic_chat: str(2 * DAY_MS),
        settings.topic_recommendations: str(2 * DAY_MS),
        settings.topic_dead_letter: str(28 * DAY_MS),
        settings.topic_content: str(30 * DAY_MS),
        settings.topic_feedback: str(30 * DAY_MS),
        settings.topic_usage: str(2 * DAY_MS),  # customers' words, masked: as long as the chats
    }
    compacted = {name for name in names if found[name]["cleanup.policy"] == "compact"}
    assert compacted == {settings.topic_models, settings.topic_figures, content_changelog(settings)}
    figures.append(
        (
            "retention of the topics helpstream creates",
            ", ".join(f"{n.split('.', 1)[1]} {int(v) // DAY_MS} d" for n, v in kept.items()),
        )
    )

    shorter = settings.model_copy(update={"retention_chat_days": 1})
    differences = await ensure_topics(KafkaConnection.of(shorter), topic_specs(shorter))
    assert len(differences) == 3 and all("retention.ms=172800000, settings say 86400000" in d for d in differences)
    assert (await configs(settings, [settings.topic_chat]))[settings.topic_chat]["retention.ms"] == str(2 * DAY_MS)

from __future__ import annotations

from streams.settings import Settings
from streams.topology.topics import content_changelog, topic_specs


def test_every_topic_is_created_with_its_partitions_and_only_the_changelog_registry_and_figures_are_compacted() -> None:
    settings = Settings(chat_partitions=6)  # type: ignore[call-arg]
    specs = {spec.name: spec for spec in topic_specs(settings)}
    assert specs["chat.started"].partitions == specs["recommendations"].partitions == 6
    assert specs["content.updated"].partitions == 1
    assert specs["helpstream.dead-letter"].partitions == 1
    compacted = [name for name, spec in specs.items() if spec.compacted]
    assert compacted == [content_changelog(settings), settings.topic_models, settings.topic_figures]
    assert specs[settings.topic_models].partitions == 1
    assert content_changelog(settings) == "helpstream-content-vectors-changelog"


def test_every_topic_gets_the_replication_and_min_insync_replicas_the_settings_give() -> None:
    specs = topic_specs(Settings(replication_factor=3, min_insync_replicas=2))  # type: ignore[call-arg]
    assert {(spec.replication, spec.configs()["min.insync.replicas"]) for spec in specs} == {(3, "2")}
    defaults = topic_specs(Settings())  # type: ignore[call-arg]
    assert {spec.replication for spec in defaults} == {1}
    assert not [spec.name for spec in defaults if "min.insync.replicas" in spec.configs()]

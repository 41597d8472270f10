"""Creates helpstream's topics on the broker before a worker starts (idempotent), with their cleanup policy and
retention, and reports a topic that exists with other settings (helpstream does not alter a topic it did not
create: the cluster's owners may have reasons)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.clients.kafka import KafkaConnection, start_or_explain
from streams.topology.topics import TopicSpec

logger = logging.getLogger(__name__)


async def ensure_topics(kafka: KafkaConnection, specs: list[TopicSpec]) -> list[str]:
    """Creates the topics that do not exist; returns (and logs) how each existing one differs from its spec."""
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=15000)
    await start_or_explain(admin, kafka)
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication,
                topic_configs=spec.configs(),
            )
            for spec in specs
            if spec.name not in existing
        ]
        if new:
            response = await admin.create_topics(new)
            # aiokafka answers per topic instead of raising: 36 is "already exists" (another worker was first).
            failed = [(name, code, message) for name, code, message in response.topic_errors if code not in (0, 36)]
            if failed:
                reasons = "; ".join(f"{name}: error {code} {message or ''}".strip() for name, code, message in failed)
                raise ConnectionError(f"Kafka refused to create topics: {reasons}")
            logger.info("created topics %s", ", ".join(t.name for t in new))
        try:
            differences = await _differences(admin, [spec for spec in specs if spec.name in existing])
        except Exception as exc:  # a check that only reports must not stop a start (a broker or ACL that refuses it)
            differences = [f"the configs of existing topics could not be read ({exc!r}): retention not checked"]
    finally:
        await admin.close()
    for difference in differences:
        logger.warning("%s", difference)
    return differences


async def _differences(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    if not specs:
        return []
    wanted = {spec.name: spec.configs() for spec in specs}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, dict(configs)) for name, configs in wanted.items()]
    found: list[str] = []
    for response in await admin.describe_configs(resources):
        # The response is the protocol's tuples: (error_code, error_message, type, name, entries).
        for error_code, _, _, name, entries in response.resources:
            if error_code:
                found.append(f"topic {name}: its configs could not be read (error {error_code})")
                continue
            have = {entry[0]: entry[1] for entry in entries}
            for key, value in wanted[name].items():
                if have.get(key) != value:
                    found.append(
                        f"topic {name} exists with {key}={have.get(key)}, settings say {value}: "
                        "alter it with kafka-configs.sh, or the settings"
                    )
    return found

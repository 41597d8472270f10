"""Creates helpstream's topics on the broker before a worker starts (idempotent)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.clients.kafka import KafkaConnection, start_or_explain
from streams.topology.topics import TopicSpec

logger = logging.getLogger(__name__)


async def ensure_topics(kafka: KafkaConnection, specs: list[TopicSpec]) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=15000)
    await start_or_explain(admin, kafka)
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
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
    finally:
        await admin.close()

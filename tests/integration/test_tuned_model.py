"""`helpstream tune` writes a model directory that a worker runs (`HELPSTREAM_MODEL=DIR`), exported to ONNX like
the built-in models, and every recommendation names that model."""

from __future__ import annotations

import csv
import importlib.resources
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import orjson

from index.models import resolve
from schemas import Recommendation, encode
from streams.clients.publish import read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.settings import Settings, child_env
from tests.fixtures import Workers
from tests.integration.clients import chat, consume_keys, index_holds, produce, produce_json
from tests.services import wait_until

SCHEMAS = importlib.resources.files("schemas") / "json"
ITEMS = 6


def small_cms(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    """Six saved responses of the demo (a CMS export of its own) and the held-out chats of those intents."""
    content = [c for c in read_content(demo_content()) if c.kind == "saved_response"][:ITEMS]
    ids = {c.content_id for c in content}
    chats = [(c.text, c.intent) for c in read_chats(demo_chats()) if c.intent in ids]
    content_path, chats_path = tmp_path / "content.jsonl", tmp_path / "chats.csv"
    content_path.write_bytes(b"".join(encode(c) + b"\n" for c in content))
    with chats_path.open("w", newline="") as f:
        csv.writer(f).writerows([("text", "category"), *chats])
    return content_path, chats_path, chats  # type: ignore[return-value]


def test_a_worker_on_a_tuned_model_directory_names_it_in_every_recommendation(
    tmp_path: Path, make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    content_path, chats_path, chats = small_cms(tmp_path)
    out = tmp_path / "tuned-banking"
    settings = make_settings()
    command = ["tune", "--content", str(content_path), "--chats", str(chats_path), "--out", str(out), "--epochs", "1"]
    tune = subprocess.run(
        [sys.executable, "-m", "streams.cli", *command, "--seed", "3"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert tune.returncode == 0, tune.stderr[-3000:]
    assert "held-out chats" in tune.stdout and f"HELPSTREAM_MODEL={out}" in tune.stdout
    report = json.loads((out / "helpstream-tune.json").read_text())
    assert report["written_model"]["held-out chats"]["queries"] == len(chats)
    model = resolve(str(out))
    assert model.name.startswith("tuned-banking@") and model.dimension == 384

    tuned = make_settings(model=str(out))  # the default backend, ONNX: the worker exports the directory itself
    worker = workers.start(tuned, "tuned")
    worker.wait_ready(300)
    produce(tuned.broker, tuned.topic_content, ((c.content_id.encode(), encode(c)) for c in read_content(content_path)))
    wait_until(lambda: index_holds(worker, ITEMS), 120, 0.5)
    produce_json(tuned.broker, tuned.topic_chat, (chat(f"t-{i}", text) for i, (text, _) in enumerate(chats)))
    messages = consume_keys(
        tuned.broker, tuned.topic_recommendations, [f"t-{i}".encode() for i in range(len(chats))], timeout_s=120
    )
    schema = json.loads((SCHEMAS / "recommendations.schema.json").read_text())
    assert len(messages) == len(chats)
    recs = []
    for message in messages.values():
        jsonschema.validate(orjson.loads(message.value), schema)
        recs.append(Recommendation.model_validate_json(message.value))
    assert {rec.model for rec in recs} == {f"{model.name}/onnx-fp32"}
    assert worker.health()[1]["model"]["id"] == f"{model.name}/onnx-fp32"
    top1 = sum(rec.items[0].content_id == chats[int(rec.chat_id[2:])][1] for rec in recs) / len(recs)
    figures.append((f"tuned model on {ITEMS} items: top-1 of {len(recs)} held-out chats", f"{top1:.1%}"))
    assert top1 >= 0.9

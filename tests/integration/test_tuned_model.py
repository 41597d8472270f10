"""`helpstream tune` writes a model directory that a worker runs (`HELPSTREAM_MODEL=DIR`), exported to ONNX like
the built-in models, and every recommendation names that model."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable

import jsonschema
import orjson

from index.backends import model_id
from index.manifest import read_manifest
from index.models import resolve
from schemas import Recommendation, encode
from streams.clients.publish import read_content
from streams.settings import Settings
from tests.fixtures import ITEMS, ExportedModel, TunedModel, Workers
from tests.integration.clients import chat, consume_keys, index_holds, produce, produce_json
from tests.services import wait_until

SCHEMAS = importlib.resources.files("schemas") / "json"


def test_a_worker_on_a_tuned_model_directory_names_it_in_every_recommendation(
    tuned_model: TunedModel, make_settings: Callable[..., Settings], workers: Workers, figures: list[tuple[str, str]]
) -> None:
    out, chats = tuned_model.directory, tuned_model.chats
    assert "held-out chats" in tuned_model.stdout and f"HELPSTREAM_MODEL={out}" in tuned_model.stdout
    report = json.loads((out / "helpstream-tune.json").read_text())
    assert report["written_model"]["held-out chats"]["queries"] == len(chats)
    model = resolve(str(out))
    assert model.name.startswith("tuned-banking@") and model.dimension == 384

    tuned = make_settings(model=str(out))  # the default backend, ONNX: the worker exports the directory itself
    worker = workers.start(tuned, "tuned")
    worker.wait_ready(300)
    produce(
        tuned.broker,
        tuned.topic_content,
        ((c.content_id.encode(), encode(c)) for c in read_content(tuned_model.content)),
    )
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


def test_a_tuned_directory_exports_like_a_ladder_model_under_the_same_id(
    tuned_model: TunedModel, exported_tuned_model: ExportedModel
) -> None:
    out, stdout = exported_tuned_model.directory, exported_tuned_model.stdout
    assert f"helpstream model export {tuned_model.directory} --out DIR" in tuned_model.stdout
    tuned, exported = resolve(str(tuned_model.directory)), resolve(str(out))
    assert read_manifest(out).source == str(tuned_model.directory)
    for backend in ("onnx", "onnx-int8"):
        assert model_id(exported, backend) == model_id(tuned, backend) and model_id(tuned, backend) in stdout

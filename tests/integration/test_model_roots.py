"""Models only from where they were allowed, on Apache Kafka: a directory with pickle weights, a manifest naming
`../x` and a directory outside the allowed roots are refused by `helpstream model add` with the reason, and by a
worker when a registry record names them anyway, while chats keep getting recommendations."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from index.manifest import MANIFEST
from schemas.registry import ModelRef
from streams.clients.kafka import KafkaConnection
from streams.registry import state
from streams.registry.channel import read_control, write_registry
from streams.settings import Settings, child_env
from tests.fixtures import Workers
from tests.integration.clients import chat, consume_keys, produce_json, run_coroutine
from tests.services import wait_until
from tests.unit.index.test_manifest import exported


def helpstream(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refused_models(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name → (directory, what its refusal says)."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    pickled = exported(allowed / "pickled")
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04 a pickle that would run code when loaded")
    escaping = exported(allowed / "escaping")
    manifest = json.loads((escaping / MANIFEST).read_text())
    manifest["graphs"]["fp32"] = "../x"
    (escaping / MANIFEST).write_text(json.dumps(manifest))
    (tmp_path / "outside").mkdir()
    outside = exported(tmp_path / "outside" / "model")
    return {
        "pickle": (pickled, "pickle files (pytorch_model.bin)"),
        "../x": (escaping, "'../x' is not inside the model directory"),
        "outside": (outside, "outside the allowed model roots"),
    }


def test_models_from_where_they_were_not_allowed_are_refused_while_chats_keep_getting_recommendations(
    make_settings: Callable[..., Settings], workers: Workers, tmp_path: Path, figures: list[tuple[str, str]]
) -> None:
    models = refused_models(tmp_path)
    settings = make_settings(model_roots=str(tmp_path / "allowed"))
    worker = workers.start_with_demo_content(settings, "roots")

    for name, (directory, reason) in models.items():
        added = helpstream(settings, "model", "add", str(directory))
        assert added.returncode == 1 and reason in added.stderr, (name, added.stderr[-1000:])

    # A registry record naming them anyway, as a producer that skips the command could write it.
    kafka = KafkaConnection.of(settings)
    registry = run_coroutine(read_control(kafka, settings)).registry
    ids = {name: f"refused-{i}@0/onnx-fp32" for i, name in enumerate(models)}
    for name, (directory, _) in models.items():
        registry = state.add(registry, ModelRef(model_id=ids[name], model=str(directory), backend="onnx"))
    run_coroutine(write_registry(kafka, settings, registry))

    def errors() -> dict[str, str]:
        shown = worker.health()[1]["models"]
        return {name: shown[mid]["error"] for name, mid in ids.items() if (shown.get(mid) or {}).get("error")}

    wait_until(lambda: len(errors()) == len(models), 120, 0.5)
    for name, (_, reason) in models.items():
        assert reason in errors()[name], errors()

    def listed() -> bool:  # from the figures each worker publishes every few seconds
        shown = {m["model_id"]: m for m in json.loads(helpstream(settings, "model", "list", "--json").stdout)["models"]}
        return all(any(models[name][1] in e for e in shown.get(mid, {}).get("errors", [])) for name, mid in ids.items())

    wait_until(listed, 60, 1)
    log = worker.log_path.read_text()
    assert all(f"cannot load model {mid}" in log for mid in ids.values())

    keys = [f"roots-{i}".encode() for i in range(20)]
    produce_json(kafka, settings.topic_chat, [chat(k.decode(), "my card has not arrived yet") for k in keys])
    recommended = consume_keys(kafka, settings.topic_recommendations, keys, 120)
    assert set(recommended) == set(keys)
    assert {json.loads(m.value)["model"] for m in recommended.values()} == {worker.health()[1]["model"]["id"]}
    figures.append(
        (
            "models refused while serving: pickle, ../x, outside the roots",
            f"3 of 3; {len(keys)} of 20 chats recommended",
        )
    )

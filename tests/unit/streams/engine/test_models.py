"""A model added while rows keep arriving: its index starts from the table's rows and misses none that came later."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from index.executor import index_executor
from index.model_policy import ModelPolicy
from schemas import ContentEntry, encode
from schemas.content_entry import ModelVectors
from streams.engine.models import ModelSet
from tests.unit.index.fakes import vector

POLICY = ModelPolicy.of([Path(".")], hub=False)


def row(content_id: str, version: int, *, deleted: bool = False) -> bytes:
    vectors = {} if deleted else {"m": ModelVectors.of(np.stack([vector(f"{content_id}{version}")]))}
    return encode(
        ContentEntry(
            content_id=content_id,
            version=version,
            deleted=deleted,
            kind="help_article",
            title=f"{content_id} v{version}",
            texts=[] if deleted else ["t"],
            text_hashes=[] if deleted else ["h"],
            vectors=vectors,
        )
    )


async def test_rows_that_arrive_while_a_new_models_index_is_built_are_applied_after_the_table_snapshot() -> None:
    thread = index_executor()
    models = ModelSet(thread, cache_dir=Path("."), threads=1, max_batch=8, max_wait_s=0.0, policy=POLICY)
    table = {"a": row("a", 1), "b": row("b", 1)}
    models.read_table_with(lambda: list(table.items()))
    busy = threading.Event()
    thread.submit(busy.wait, 5)  # the index thread is busy: the snapshot's rows queue behind this
    build = asyncio.ensure_future(models._build_index("m", 8, {}))
    await asyncio.sleep(0.01)
    for content_id, raw in (("a", row("a", 2)), ("b", row("b", 2, deleted=True)), ("c", row("c", 1))):
        table[content_id] = raw
        models.follow(content_id, raw)  # what the table's hooks call as rows change
    busy.set()
    await build
    await models.synced()
    index = models.index("m")
    assert index is not None
    hits = index.search(np.stack([vector("a2")]), 5, "help_article")[0]
    assert sorted(h.title for h in hits) == ["a v2", "c v1"]
    assert index.watermark().table_items == 2
    thread.shutdown()


async def test_a_model_covers_the_content_once_every_item_with_texts_has_its_vectors() -> None:
    thread = index_executor()
    models = ModelSet(thread, cache_dir=Path("."), threads=1, max_batch=8, max_wait_s=0.0, policy=POLICY)
    lacking = ContentEntry.model_validate_json(row("b", 1)).model_copy(update={"vectors": {}})
    textless = lacking.model_copy(update={"content_id": "c", "texts": [], "text_hashes": []})
    table = {"a": row("a", 1), "b": encode(lacking), "c": encode(textless)}
    models.read_table_with(lambda: list(table.items()))
    await models._build_index("m", 8, {})
    await models.synced()
    assert not models.covers("m")  # b has texts to embed; c has none, so only the CMS can fill it
    table["b"] = row("b", 1)
    models.follow("b", table["b"])  # what the backfill's write comes back as
    await models.synced()
    assert models.covers("m") and not models.covers("other")
    thread.shutdown()


async def test_a_restart_whose_registry_names_a_model_it_may_not_load_serves_the_previous_model(
    tmp_path: Path,
) -> None:
    from index.kv import MemoryKeyValue
    from schemas.registry import ModelRef, Registry
    from streams.engine.models import model_ref

    thread = index_executor()
    policy = ModelPolicy.of([tmp_path / "roots"], hub=False)
    models = ModelSet(thread, cache_dir=tmp_path, threads=1, max_batch=8, max_wait_s=0.0, policy=policy)
    models.read_table_with(lambda: [])
    (tmp_path / "outside").mkdir()
    forced = ModelRef(model_id="outside/onnx-fp32", model=str(tmp_path / "outside"), backend="onnx")
    previous = model_ref("minilm-l6-onnx", "onnx")
    await models.start(Registry(revision=4, active=forced, previous=previous), MemoryKeyValue())
    assert models.active_id == previous.model_id
    assert "outside the allowed model roots" in models.errors[forced.model_id]
    await models.close()
    thread.shutdown()

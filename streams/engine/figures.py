"""This worker's figures per model, as published on the control topic and shown by `/healthz`: coverage of the
content table from each model's index, and what shadow scoring and feedback tallied; while its models load, a
report that it is starting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.registry import ModelFigures, Registry, WorkerFigures
from streams.engine.models import ModelSet
from streams.engine.tallies import Tallies


def model_figures(models: ModelSet, tallies: Tallies) -> dict[str, ModelFigures]:
    out: dict[str, ModelFigures] = {}
    for model_id in models.live_ids():
        index = models.index(model_id)
        watermark = None if index is None else index.watermark()
        out[model_id] = tallies[model_id].figures(
            loaded=models.serving(model_id) is not None,
            error=models.errors.get(model_id),
            items=0 if watermark is None else watermark.items,
            table_items=0 if watermark is None else watermark.table_items,
            changes=0 if watermark is None else watermark.changes,
            last_change=None if watermark is None else watermark.last_change,
        )
    return out


def worker_figures(
    worker: str, models: ModelSet, tallies: Tallies, *, owns_content: bool, interleave_share: float
) -> WorkerFigures:
    return WorkerFigures(
        worker=worker,
        at=datetime.now(UTC),
        registry_revision=models.registry.revision,
        active=models.active_id,
        active_ref=next((m for m in models.registry.live() if m.model_id == models.active_id), None),
        owns_content=owns_content,
        interleave_share=interleave_share,
        models=model_figures(models, tallies),
    )


def starting_figures(worker: str, registry: Registry, tallies: Tallies, *, interleave_share: float) -> WorkerFigures:
    """The report of a worker whose active model does not answer yet: every model of the registry not loaded here,
    so the coverage gate and `promote --wait` wait for it instead of judging the group without it, with the votes
    its run before cast that still hold (`Tallies.resume`), which this report replaces on the topic."""
    active = registry.active
    return WorkerFigures(
        worker=worker,
        at=datetime.now(UTC),
        registry_revision=registry.revision,
        active=None if active is None else active.model_id,
        starting=True,
        interleave_share=interleave_share,
        models={
            ref.model_id: tallies[ref.model_id].figures(
                loaded=False, error=None, items=0, table_items=0, changes=0, last_change=None
            )
            for ref in registry.live()
        },
    )


def model_health(models: ModelSet) -> dict[str, dict[str, Any]]:
    """Per model, for `/healthz`: role, whether it is loaded, items, coverage, the last change applied, lag."""
    roles = models.registry.roles()
    out: dict[str, dict[str, Any]] = {}
    for model_id in models.live_ids():
        index = models.index(model_id)
        if index is None:
            if model_id in models.errors:  # refused or unreadable before its index was built
                error = models.errors[model_id]
                out[model_id] = {"role": roles.get(model_id), "answering": False, "loaded": False, "error": error}
            continue
        mark = index.watermark()
        out[model_id] = {
            "role": roles.get(model_id),
            "answering": model_id == models.active_id,
            "loaded": models.serving(model_id) is not None,
            "error": models.errors.get(model_id),
            "load_s": None if model_id not in models.load_seconds else round(models.load_seconds[model_id], 2),
            "items": mark.items,
            "vectors": index.vectors.vector_count,
            "table_items": mark.table_items,
            "coverage": round(1.0 if mark.table_items == 0 else mark.items / mark.table_items, 4),
            "lag_items": max(0, mark.table_items - mark.items),
            "items_without_texts": index.textless,
            "changes_applied": mark.changes,
            "last_change": mark.last_change,
        }
    return out

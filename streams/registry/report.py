"""The registry and every live model's figures across the group, as `helpstream model list` prints them and
`/models` (read by `/console/models`) serves them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.registry import Registry
from streams.registry.channel import ControlState
from streams.registry.figures import fresh, interleaves, merge
from streams.registry.gates import promote_gates


def models_report(control: ControlState, budget_chat_p99_ms: float, now: datetime | None = None) -> dict[str, Any]:
    """Each candidate comes with the promote gates as they stand (`helpstream model promote` checks the same)."""
    registry = control.registry
    now = now or datetime.now(UTC)
    # As workers judge a promote: each worker's last report made by `now`.
    reports = list(control.figures_at(now) if control.recent else control.figures.values())
    running = fresh(reports, now)
    group = merge(reports, now, registry)
    role = registry.roles()
    models = []
    for ref in registry.live():
        figures = group.get(ref.model_id)
        entry: dict[str, Any] = {
            "role": role[ref.model_id],
            "model": ref.model,
            "backend": ref.backend,
            **(figures.summary() if figures is not None else {"model_id": ref.model_id}),
            "answering_workers": sum(f.active == ref.model_id and not f.starting for f in running),
        }
        if role[ref.model_id] == "candidate":
            gates = promote_gates(figures, len(running), budget_chat_p99_ms, interleaving=interleaves(running))
            entry["gates"] = [{"name": g.name, "passed": g.passed, "detail": g.detail} for g in gates]
        models.append(entry)
    return {
        "revision": registry.revision,
        "workers": [
            {
                "worker": f.worker,
                "active": f.active,
                "starting": f.starting,
                "revision": f.registry_revision,
                "owns_content": f.owns_content,
            }
            for f in running
        ],
        "budget": {"chat_p99_ms": budget_chat_p99_ms},
        "models": models,
        "retired": registry.retired,
        "history": [c.model_dump(mode="json") for c in registry.history[-20:]],
    }


def still_needed(report: dict[str, Any], registry: Registry, model_id: str) -> str | None:
    """Why retiring `model_id` could leave a worker with no model to answer with (`models_report`'s `report`),
    else None: a worker that could not follow a forced promote still answers with it, or it is the previous model,
    which a worker still loading falls back to if the active model fails to load."""
    workers = report["workers"]
    answering = [w["worker"] for w in workers if w["active"] == model_id and not w["starting"]]
    if answering:
        return f"{model_id} still answers chats on {', '.join(answering)}"
    starting = [w["worker"] for w in workers if w["starting"]]
    if starting and registry.previous is not None and registry.previous.model_id == model_id:
        return (
            f"{', '.join(starting)} still loading their models: each falls back to {model_id} if the active model "
            "fails to load"
        )
    return None

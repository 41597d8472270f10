"""The registry and every live model's figures across the group, as `helpstream model list` prints them and
`/models` (read by `/console/models`) serves them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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

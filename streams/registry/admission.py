"""Whether a worker follows a registry record it reads live: a promote must pass the gates on the group's figures
as they stood when the operator made it (so every worker, and the command, judge the same figures), and a forced
one must say why and who forced it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from schemas.registry import Registry, WorkerFigures
from streams.registry.figures import fresh, interleaves, merge
from streams.registry.gates import promote_gates


def refusal(
    current: Registry,
    incoming: Registry,
    figures_at: Callable[[datetime], Iterable[WorkerFigures]],
    budget_chat_p99_ms: float,
) -> str | None:
    """Why `incoming` is not followed, or None. What is judged is the change of the active model, whichever record
    brings it: the change in the history that made `incoming.active` active is found and checked, so a record
    built on a refused promote (an add, a retire) is refused too. A rollback returns to the model that answered
    before; an add or a retire changes no answer."""
    if incoming.active is None or incoming.active == current.active:
        return None
    model_id = incoming.active.model_id
    change = next((c for c in reversed(incoming.history) if c.model_id == model_id and c.action != "add"), None)
    if change is None or change.action in ("retire", "seed"):
        if change is not None and change.action == "seed" and current.active is None:
            return None
        return f"{model_id} became active with no promote or rollback in the registry's history"
    if change.action == "rollback":
        return None
    reported = list(figures_at(change.at))
    reports = fresh(reported, change.at)
    group = merge(reported, change.at, current).get(model_id)
    if change.forced:
        if not (change.reason or "").strip() or not (change.operator or "").strip():
            return f"forced promote of {model_id} without a reason and an operator"
        if group is not None and group.errors:
            # Forcing overrides a judgement (quality, latency, coverage still filling), not a model that cannot run.
            return f"forced promote of {model_id}, which workers could not load: {'; '.join(group.errors)}"
        return None
    gates = promote_gates(group, len(reports), budget_chat_p99_ms, interleaving=interleaves(reports))
    failed = [g for g in gates if not g.passed]
    if failed:
        return f"promote of {model_id} with failed gates: " + "; ".join(f"{g.name}: {g.detail}" for g in failed)
    return None

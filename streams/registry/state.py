"""The registry's changes, as pure functions: each returns the next `Registry` or raises `Refused` saying why."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.registry import Action, Change, ModelRef, Registry

HISTORY = 200  # changes kept in the record


class Refused(ValueError):
    """A change the registry cannot make; the message says why and what to do instead."""


def _next(registry: Registry, action: Action, model_id: str, reason: str | None = None, **update: object) -> Registry:
    change = Change(at=datetime.now(UTC), action=action, model_id=model_id, forced=reason is not None, reason=reason)
    history = [*registry.history, change][-HISTORY:]
    return registry.model_copy(update={"revision": registry.revision + 1, "history": history, **update})


def seed(registry: Registry, ref: ModelRef) -> Registry | None:
    """The first record: `HELPSTREAM_MODEL` becomes the active model; None when the registry has one already."""
    if registry.active is not None:
        return None
    return _next(registry, "seed", ref.model_id, active=ref)


def add(registry: Registry, ref: ModelRef) -> Registry:
    found = registry.find(ref.model_id)
    if found is not None:
        role = "active" if found == registry.active else "previous" if found == registry.previous else "a candidate"
        raise Refused(f"{ref.model_id} is already {role}")
    retired = [mid for mid in registry.retired if mid != ref.model_id]
    return _next(registry, "add", ref.model_id, candidates=[*registry.candidates, ref], retired=retired)


def promote(registry: Registry, model_id: str, forced_why: str | None = None) -> Registry:
    """The candidate answers from now on; the active model becomes `previous` (for `rollback`), and a previous
    one before it stays as a candidate (its vectors are kept until it is retired)."""
    ref = next((m for m in registry.candidates if m.model_id == model_id), None)
    if ref is None:
        names = ", ".join(m.model_id for m in registry.candidates) or "none"
        raise Refused(f"{model_id} is not a candidate (candidates: {names}); `helpstream model add` it first")
    candidates = [m for m in registry.candidates if m.model_id != model_id]
    if registry.previous is not None:
        candidates.append(registry.previous)
    return _next(registry, "promote", model_id, forced_why, active=ref, previous=registry.active, candidates=candidates)


def rollback(registry: Registry) -> Registry:
    """Back to the previous model at once (its vectors were kept); the rolled-back one becomes `previous`."""
    if registry.previous is None or registry.active is None:
        raise Refused("there is no previous model to roll back to")
    return _next(registry, "rollback", registry.previous.model_id, active=registry.previous, previous=registry.active)


def retire(registry: Registry, model_id: str) -> Registry:
    """Stop running a model and drop its vectors from the content table."""
    if registry.active is not None and registry.active.model_id == model_id:
        raise Refused(f"{model_id} is the active model: promote another one or roll back first")
    if registry.find(model_id) is None:
        raise Refused(f"{model_id} is not in the registry")
    previous = None if registry.previous is not None and registry.previous.model_id == model_id else registry.previous
    candidates = [m for m in registry.candidates if m.model_id != model_id]
    retired = [*registry.retired, model_id]
    return _next(registry, "retire", model_id, previous=previous, candidates=candidates, retired=retired)


def stamped(
    registry: Registry, operator: str, at: datetime | None = None, figures: dict[str, float] | None = None
) -> Registry:
    """The registry with `operator` named on its newest change, the one about to be written, `at` the moment the
    operator's figures were read (workers judge a promote on the figures of that moment), and the `figures` the
    change was decided on."""
    if not registry.history:
        return registry
    update: dict[str, object] = {
        "operator": operator,
        **({"at": at} if at else {}),
        **({"figures": figures} if figures else {}),
    }
    last = registry.history[-1].model_copy(update=update)
    return registry.model_copy(update={"history": [*registry.history[:-1], last]})

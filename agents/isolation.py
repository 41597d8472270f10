"""Tells an event's failure from the system's: when a batch's model call fails, a canary call decides.

If the canary works, the failure belongs to the batch's events: each is retried alone and the ones that still
fail go to the dead-letter topic, so the rest of the batch carries on. If the canary fails too, the failure is the
system's: it is raised, so the batch is retried and, if it keeps failing, the worker crashes unacked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import faust

from agents.dead_letters import DeadLetters

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class Isolated(Generic[Item, Result]):
    done: list[tuple[faust.EventT, Item, Result]] = field(default_factory=list)
    dead_letters: list[Awaitable[Any]] = field(default_factory=list)


async def run_isolated(
    events: Sequence[faust.EventT],
    items: Sequence[Item],
    run: Callable[[list[Item]], Awaitable[list[Result]]],
    *,
    healthy: Callable[[], Awaitable[bool]],
    dead_letters: DeadLetters,
    what: str,
) -> Isolated[Item, Result]:
    """`run(items)` in one call; if that fails and `healthy()` says the system works, one call per item."""
    isolated: Isolated[Item, Result] = Isolated()
    if not items:
        return isolated
    try:
        results = await run(list(items))
    except Exception as exc:
        if not await healthy():
            raise
        logger.warning(
            "%s failed for a batch of %s while the canary works (%r): retrying one by one", what, len(items), exc
        )
    else:
        isolated.done = list(zip(events, items, results, strict=True))
        return isolated
    for event, item in zip(events, items, strict=True):
        try:
            (result,) = await run([item])
        except Exception as exc:
            if not await healthy():
                raise  # broke meanwhile: the rest of the batch is retried, not dead-lettered
            isolated.dead_letters.append(await dead_letters.send(event, f"{what} failed: {exc!r}"))
        else:
            isolated.done.append((event, item, result))
    return isolated

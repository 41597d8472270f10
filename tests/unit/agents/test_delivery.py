"""At-least-once batches: events are acked only after their batch succeeded; a batch is never skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from agents import delivery


class FakeStream:
    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.acked: list[str] = []

    async def ack(self, event: str) -> bool:
        self.acked.append(event)
        return True


async def take(stream: Any, max_: int) -> AsyncIterator[list[str]]:
    """The stream's batches, as `ready_batches` hands them out."""
    for batch in stream.batches:
        yield batch


class FakeApp:
    def __init__(self) -> None:
        self.crashed: BaseException | None = None

    async def crash(self, exc: BaseException) -> None:
        self.crashed = exc


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "FIRST_BACKOFF_S", 0.0)


async def test_a_failing_batch_is_retried_and_acked_only_after_it_succeeds() -> None:
    stream, attempts = FakeStream([["e1", "e2"], ["e3"]]), []
    acked_while_failing: list[list[str]] = []

    async def handle(batch: Sequence[Any]) -> None:
        attempts.append(list(batch))
        if len(attempts) <= 2:
            # Recorded, not asserted here: the retry loop under test would swallow a failed assert.
            acked_while_failing.append(list(stream.acked))
            raise ConnectionError("broker went away")

    await delivery.run_batches(FakeApp(), stream, handle, max_batch=2, take=take)  # type: ignore[arg-type]
    assert attempts == [["e1", "e2"]] * 3 + [["e3"]]
    assert acked_while_failing == [[], []]
    assert stream.acked == ["e1", "e2", "e3"]


async def test_a_batch_that_keeps_failing_crashes_the_worker_unacked_so_it_is_redelivered() -> None:
    stream, app = FakeStream([["e1"], ["e2"]]), FakeApp()

    async def handle(batch: Sequence[Any]) -> None:
        raise RuntimeError("poison")

    with pytest.raises(RuntimeError, match="poison"):
        await delivery.run_batches(app, stream, handle, max_batch=1, take=take)  # type: ignore[arg-type]
    assert isinstance(app.crashed, RuntimeError)
    assert stream.acked == []

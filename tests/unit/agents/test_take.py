"""Batches of a real Faust stream (an agent's test context, no broker): at once while the model is idle, after
up to the window while it is busy, never more than the maximum, every event once and in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import faust
import pytest

from agents.take import ready_batches, was_taken

WINDOW_S = 0.3  # long, so that "waited for the window" and "went out at once" cannot be confused on a busy machine


class Recorder:
    def __init__(self) -> None:
        self.busy = False
        self.batches: list[tuple[float, list[Any]]] = []
        self.taken: list[bool] = []


@pytest.fixture
async def apps() -> AsyncIterator[list[faust.App]]:
    """Faust builds its Kafka consumer, and that consumer thread's event loop, once a stream runs, even in an
    agent's test context with no broker, and never starts or closes them: closed here."""
    made: list[faust.App] = []
    yield made
    for app in made:
        consumer: Any = app._consumer  # type: ignore[attr-defined]
        thread = getattr(consumer, "_thread", None)
        if thread is not None and not thread.thread_loop.is_closed():
            thread.thread_loop.close()


def agent_of(recorder: Recorder, max_: int, apps: list[faust.App]) -> Any:
    app = faust.App(f"take-{id(recorder)}", store="memory://", loop=asyncio.get_running_loop())
    apps.append(app)

    @app.agent(app.topic("chats"))  # type: ignore[misc]
    async def agent(stream: faust.StreamT) -> None:
        async for batch in ready_batches(stream, max_, WINDOW_S, lambda: recorder.busy):
            recorder.batches.append((time.monotonic(), [event.value for event in batch]))
            recorder.taken += [was_taken(event.message) for event in batch]
            for event in batch:
                await stream.ack(event)

    return agent


async def until(condition: Any, timeout_s: float = 5) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_chat_goes_out_at_once_while_the_model_is_idle_and_waits_for_company_while_it_is_busy(
    apps: list[faust.App],
) -> None:
    recorder = Recorder()
    async with agent_of(recorder, 4, apps).test_context() as agent:
        sent = time.monotonic()
        await agent.put("alone")
        await until(lambda: len(recorder.batches) == 1)
        assert recorder.batches[0][0] - sent < WINDOW_S / 2

        recorder.busy = True
        sent = time.monotonic()
        await agent.put("waits")
        await until(lambda: len(recorder.batches) == 2)
        assert recorder.batches[1][0] - sent >= WINDOW_S * 0.9


async def test_a_full_batch_goes_out_without_waiting_and_no_batch_is_larger_than_the_maximum(
    apps: list[faust.App],
) -> None:
    recorder = Recorder()
    recorder.busy = True
    async with agent_of(recorder, 4, apps).test_context() as agent:
        sent = time.monotonic()
        for i in range(10):
            await agent.put(i)
        await until(lambda: sum(len(values) for _, values in recorder.batches) == 10)
    sizes = [len(values) for _, values in recorder.batches]
    assert max(sizes) <= 4
    assert recorder.batches[0][0] - sent < WINDOW_S / 2  # the first four filled a batch: no window
    assert [value for _, values in recorder.batches for value in values] == list(range(10))
    assert recorder.taken == [True] * 10  # the consumer's watchdog never reads an event an agent holds again

"""A worker that restarts while a candidate is interleaved carries on the votes it had reported, those cast after
its last periodic report included: the verdict the group sees does not fall back, through the real control topics
on Apache Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from agents.ports import Vote
from schemas.registry import ModelRef, WorkerFigures
from streams.clients.kafka import KafkaConnection
from streams.engine.tallies import Tallies
from streams.registry.channel import ControlChannel, ControlState, read_control, write_registry
from streams.registry.report import models_report
from streams.registry.state import add
from streams.settings import Settings
from streams.topology.admin import ensure_topics
from streams.topology.topics import topic_specs

ACTIVE = ModelRef(model_id="l6/onnx-fp32", model="minilm-l6", backend="onnx")
CANDIDATE = ModelRef(model_id="tuned@1/onnx-fp32", model="/models/tuned", backend="onnx")
WORKER = "votes-worker:6066"


def channel(settings: Settings, tallies: Tallies) -> ControlChannel:
    """The control channel as `streams.app` wires it for the tallies, publishing figures of both models."""
    control = ControlChannel(KafkaConnection.of(settings), ControlState.of(settings), WORKER, lambda: ACTIVE)
    control.on_read(tallies.resume)
    control.on_registry(tallies.follow)
    control.publish_figures_with(
        lambda: WorkerFigures(
            worker=WORKER,
            at=datetime.now(UTC),
            registry_revision=control.registry.revision,
            active=ACTIVE.model_id,
            interleave_share=0.2,
            models={
                m.model_id: tallies[m.model_id].figures(loaded=True, items=83, table_items=83)
                for m in control.registry.live()
            },
        )
    )
    return control


async def published(settings: Settings, wins: int) -> bool:
    state = await read_control(KafkaConnection.of(settings), settings)
    figures = state.figures.get(WORKER)
    return (
        figures is not None
        and CANDIDATE.model_id in figures.models
        and figures.models[CANDIDATE.model_id].interleave_wins == wins
    )


async def until_published(settings: Settings, wins: int) -> bool:
    """Whether the worker's report with `wins` votes for the candidate reached the figures topic within 10 s."""
    for _ in range(int(10 / 0.5)):
        if await published(settings, wins):
            return True
        await asyncio.sleep(0.5)
    return False


async def test_a_restarted_worker_carries_on_its_interleaving_votes(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    kafka = KafkaConnection.of(settings)
    assert await ensure_topics(kafka, topic_specs(settings)) == []
    first = Tallies()
    before = channel(settings, first)
    await before.start()
    try:
        await write_registry(kafka, settings, add(before.registry, CANDIDATE))
        for _ in range(100):
            if before.registry.candidates:
                break
            await asyncio.sleep(0.1)
        assert before.registry.candidates == [CANDIDATE]
        first.shown(CANDIDATE.model_id, 90)
        votes: list[Vote] = ["candidate"] * 7 + ["active"] * 2
        for vote in votes:
            first.voted(CANDIDATE.model_id, vote)
        assert await until_published(settings, 7)
        first.voted(CANDIDATE.model_id, "candidate")  # cast after the last periodic report
        await before.report_now()  # as the embedding service does when the worker stops
        assert await published(settings, 8)  # acknowledged by the broker before the channel stops
    finally:
        await before.stop()

    again = Tallies()
    after = channel(settings, again)
    await after.start()
    try:
        carried = again[CANDIDATE.model_id]
        assert (carried.interleaved, carried.interleave_wins, carried.interleave_losses) == (90, 8, 2)
        again.voted(CANDIDATE.model_id, "candidate")
        assert await until_published(settings, 9)
        state = await read_control(kafka, settings)
        candidate = next(m for m in models_report(state, 1000)["models"] if m["role"] == "candidate")
        assert (candidate["interleaved"], candidate["interleave_wins"], candidate["interleave_losses"]) == (90, 9, 2)
    finally:
        await after.stop()

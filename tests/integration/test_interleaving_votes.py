"""Interleaving votes on the figures topic, through the real control topics on Apache Kafka: a worker that restarts
while a candidate is interleaved carries on the votes it had reported, those cast after its last periodic report
included, so the verdict the group sees does not fall back; and a running worker deletes the last report of a
worker long gone, unless that report's votes still judge the candidate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from agents.ports import Vote
from schemas import encode
from schemas.registry import FIGURES_PREFIX, ModelRef, WorkerFigures
from streams.clients.kafka import KafkaConnection
from streams.engine.tallies import Tallies
from streams.registry import channel as channel_module
from streams.registry.channel import ControlChannel, ControlState, read_control, write_registry
from streams.registry.report import models_report
from streams.registry.state import add
from streams.settings import Settings
from streams.topology.admin import ensure_topics
from streams.topology.topics import topic_specs
from tests.integration.clients import produce

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


async def add_candidate(settings: Settings, control: ControlChannel) -> None:
    """`model add` of the candidate, followed by the worker's channel."""
    await write_registry(KafkaConnection.of(settings), settings, add(control.registry, CANDIDATE))
    for _ in range(100):
        if control.registry.candidates:
            break
        await asyncio.sleep(0.1)
    assert control.registry.candidates == [CANDIDATE]


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
        await add_candidate(settings, before)
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


def gone_report(worker: str, revision: int, wins: int) -> WorkerFigures:
    """A report made an hour ago, with `wins` votes for the candidate (none when 0)."""
    tallies = Tallies()
    if wins:
        tallies.shown(CANDIDATE.model_id, 40)
        for _ in range(wins):
            tallies.voted(CANDIDATE.model_id, "candidate")
    return WorkerFigures(
        worker=worker,
        at=datetime.now(UTC) - timedelta(hours=1),
        registry_revision=revision,
        active=ACTIVE.model_id,
        interleave_share=0.2,
        models={CANDIDATE.model_id: tallies[CANDIDATE.model_id].figures(loaded=True, items=83, table_items=83)},
    )


async def test_a_long_gone_workers_report_is_deleted_unless_its_votes_still_count(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_module, "FORGET_EVERY_S", 1.0)
    monkeypatch.setattr(channel_module, "FORGET_AFTER_S", 2.0)
    settings = make_settings()
    kafka = KafkaConnection.of(settings)
    assert await ensure_topics(kafka, topic_specs(settings)) == []
    running = channel(settings, Tallies())
    await running.start()
    try:
        await add_candidate(settings, running)
        revision = running.registry.revision
        reports = [gone_report("gone-idle", revision, 0), gone_report("gone-voted", revision, 5)]
        records = [((FIGURES_PREFIX + r.worker).encode(), encode(r)) for r in reports]
        await asyncio.to_thread(produce, kafka, settings.topic_figures, records)
        for _ in range(40):
            state = await read_control(kafka, settings)
            if "gone-idle" not in state.figures and WORKER in state.figures:
                break
            await asyncio.sleep(0.5)
        assert sorted(state.figures) == ["gone-voted", WORKER]
        candidate = next(m for m in models_report(state, 1000)["models"] if m["role"] == "candidate")
        assert (candidate["interleave_wins"], candidate["interleave_departed_workers"]) == (5, 1)
    finally:
        await running.stop()

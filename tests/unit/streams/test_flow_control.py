"""Recovery resumes the flow at each of its steps; an event queued for an agent in between is kept (Faust's own
flow control clears the queues on every resume and so dropped it: faust-streaming #596)."""

from __future__ import annotations

import faust
from faust.types import ChannelT

from streams.app import create_app
from streams.flow_control import FlowControl
from streams.settings import Settings, isolated


def recovery_hands_over_an_event_between_two_resumes(app: faust.App) -> ChannelT[str]:
    """What a worker's recovery does after a takeover, on an agent's real queue: the flow is resumed while the
    changelogs are read, the consumer hands over an event of the sought partition, and the last step of recovery
    resumes the flow again."""
    channel: ChannelT[str] = app.channel()
    app.flow_control.resume()
    channel.queue.force_put_nowait("chat at the committed offset")  # type: ignore[attr-defined]
    app.flow_control.resume()
    return channel


async def test_an_event_queued_after_the_flow_resumed_survives_recoverys_next_resume() -> None:
    app = create_app(isolated(Settings(broker="kafka://127.0.0.1:9092"), "flow")).app  # type: ignore[call-arg]

    assert isinstance(app.flow_control, FlowControl)
    assert recovery_hands_over_an_event_between_two_resumes(app).queue.qsize() == 1


async def test_what_was_queued_while_the_flow_was_suspended_is_cleared_when_it_resumes() -> None:
    app = create_app(isolated(Settings(broker="kafka://127.0.0.1:9092"), "flow")).app  # type: ignore[call-arg]
    channel: ChannelT[str] = app.channel()
    app.flow_control.resume()
    app.flow_control.suspend()  # a rebalance: what is queued now belongs to a generation that is over
    channel.queue.force_put_nowait("chat of the old generation")  # type: ignore[attr-defined]

    app.flow_control.resume()

    assert channel.queue.empty() and app.flow_control.is_active()


async def test_faust_alone_drops_the_event_so_the_override_is_still_needed() -> None:
    app = faust.App("plain-flow", broker="kafka://127.0.0.1:9092")

    assert recovery_hands_over_an_event_between_two_resumes(app).queue.qsize() == 0

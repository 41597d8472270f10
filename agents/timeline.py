"""A chat's timeline: the instants its stages start and end, and the `ChatTimings` they make.

The consumer stamps each event with when it took it from its Kafka client (records the client had prefetched
waited in it as part of the broker stage) and the loop lag so far (`stamp`); the chat agent adds when it took
the batch, the model's `Moments` and when it built the recommendation. Every instant is wall-clock seconds (the
chat's `created_at` is the chat platform's wall clock): the worker's and the model's clocks are `time.time`,
injectable where a test needs a fake one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from index.serving import Moments
from schemas import ChatTimings, SearchTimings

_STAMP = "helpstream_stamp"


@dataclass(frozen=True)
class Stamp:
    """When the worker's consumer took the event from its fetch, and the loop lag it had counted by then."""

    fetched_at: float
    lag_s: float


def stamp(message: Any, fetched_at: float, lag_s: float) -> None:
    """Mark a consumer message (Faust's `ConsumerMessage` takes attributes)."""
    setattr(message, _STAMP, Stamp(fetched_at, lag_s))


def stamp_of(message: Any) -> Stamp | None:
    found = getattr(message, _STAMP, None)
    return found if isinstance(found, Stamp) else None


def _ms(start: float, end: float) -> float:
    return round(max(0.0, end - start) * 1000, 2)


def chat_timings(
    created_at: datetime, fetched: Stamp | None, taken: float, moments: Moments, built: float, lag_s: float
) -> ChatTimings:
    """The stages between consecutive instants, so they add up to `built - created_at`. An event without a stamp
    (not read by helpstream's consumer) counts its time up to the batch as broker time."""
    created = created_at.timestamp()
    fetched_at = taken if fetched is None else fetched.fetched_at
    return ChatTimings(
        broker_ms=_ms(created, fetched_at),
        queue_ms=_ms(fetched_at, taken),
        batch_wait_ms=_ms(taken, moments.encode_started),
        encode_ms=_ms(moments.encode_started, moments.encoded),
        search_ms=_ms(moments.encoded, moments.searched),
        build_ms=_ms(moments.searched, built),
        loop_lag_ms=_ms(fetched.lag_s if fetched is not None else lag_s, lag_s),
    )


def search_timings(started: float, moments: Moments, built: float) -> SearchTimings:
    """A search's stages from the request reaching the view (`started`) to its response built."""
    return SearchTimings(
        batch_wait_ms=_ms(started, moments.encode_started),
        encode_ms=_ms(moments.encode_started, moments.encoded),
        search_ms=_ms(moments.encoded, moments.searched),
        build_ms=_ms(moments.searched, built),
    )

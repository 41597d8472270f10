"""Where an answer's milliseconds went, stage by stage: the optional `timings` of recommendations and searches."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.types import Contract

Ms = Annotated[float, Field(ge=0)]


class ChatTimings(Contract):
    """A chat's stages in the worker, in the order it went through them. They add up to the recommendation's
    `latency_ms` (from the chat's `created_at` to the recommendation being built); the publish to the broker
    comes after it and is measured on its own (`helpstream_stage_seconds{stage="publish"}`). `loop_lag_ms`
    overlaps the others: how late the worker's event loop ran its timers while the chat was in the worker."""

    broker_ms: Ms = Field(description="created_at → the worker's consumer took it from its Kafka client")
    queue_ms: Ms = Field(description="→ taken into a batch by the chat agent (the stream's buffer, a free slot)")
    batch_wait_ms: Ms = Field(description="→ its model call started (decode, micro-batcher queue, a free thread)")
    encode_ms: Ms = Field(description="the model call")
    search_ms: Ms = Field(description="→ the index answered (search queue and FAISS)")
    build_ms: Ms = Field(description="→ the recommendation built")
    loop_lag_ms: Ms = Field(description="event-loop lag while the chat was in the worker (overlaps the stages)")


class SearchTimings(Contract):
    """A search's stages, from the request reaching the view to the response built; they add up to `took_ms`."""

    batch_wait_ms: Ms = Field(description="→ its model call started (micro-batcher queue, a free thread)")
    encode_ms: Ms = Field(description="the model call")
    search_ms: Ms = Field(description="→ the index answered (search queue and FAISS)")
    build_ms: Ms = Field(description="→ the response built")

"""A worker's JSON endpoints: `/search` (the help screen's on the public listener, help articles only and
bounded; the agents' on the internal one), `/readyz` (public: ready or not, nothing more),
`/recommendations/{chat_id}`, `/healthz`, `/metrics` and `/models` (the registry and the group's figures per
model, for `/console/models`)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from agents.masking import Masker
from agents.timeline import search_timings
from index.batcher import BatcherClosed, Lane
from index.vector_index import Hit
from schemas import SearchResponse, SearchResult, encode
from schemas.types import KINDS, MAX_TEXT_CHARS
from streams.engine.figures import model_health
from streams.engine.models import NotStarted
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.service import EmbeddingService
from streams.registry.channel import ControlChannel
from streams.registry.report import models_report
from streams.settings import Settings
from streams.web.limits import RateLimiter, Slots, TimeBudget
from streams.web.metrics import Metrics

MAX_K = 50
# A search over a rate waits this long for its refusal: a flood that never waits for `Retry-After` costs the worker
# one answer per connection per second, instead of as many as it can send.
TARPIT_S = 1.0
READY_CACHE_S = 1.0


class BadRequest(ValueError):
    pass


def parse_search(
    query: dict[str, str], kinds: tuple[str, ...] = KINDS, max_chars: int = MAX_TEXT_CHARS
) -> tuple[str, int, str]:
    """(q, k, kind) from the query string, or `BadRequest` saying what is wrong."""
    q = query.get("q", "").strip()
    if not q:
        raise BadRequest("q is required: GET /search?q=<text>")
    if len(q) > max_chars:
        raise BadRequest(f"q is longer than {max_chars} characters")
    try:
        k = int(query.get("k", "5"))
    except ValueError:
        raise BadRequest("k must be an integer from 1 to 50") from None
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be from 1 to {MAX_K}")
    kind = query.get("kind", "help_article")
    if kind not in kinds:
        raise BadRequest(f"kind must be one of {', '.join(kinds)}")
    return q, k, kind


def _result(hit: Hit) -> SearchResult:
    return SearchResult.model_validate(
        {"content_id": hit.content_id, "kind": hit.kind, "title": hit.title, "score": round(hit.score, 4)}
    )


def json_response(
    body: bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=data, content_type="application/json", status=status, headers=headers)


def _busy(reason: str, retry_after_s: float, status: int = 503) -> web.Response:
    return json_response({"error": reason}, status, {"Retry-After": str(max(1, math.ceil(retry_after_s)))})


class Views:
    def __init__(
        self,
        settings: Settings,
        engine: EmbeddingService,
        store: RecommendationStore,
        metrics: Metrics,
        channel: ControlChannel,
        masker: Masker,
        recovered: Callable[[], bool],
    ) -> None:
        self._settings = settings
        self._masker = masker
        self._engine = engine
        self._store = store
        self._metrics = metrics
        self._channel = channel
        self._recovered = recovered
        self._per_client = RateLimiter(settings.search_rate, settings.search_burst)
        model_seconds = settings.search_model_share * engine.parallel  # of model time, per second
        self._all_clients = TimeBudget(model_seconds, burst_s=model_seconds)
        self._search_cost_s = 0.01  # what a public search's model call takes, lately
        self._slots = Slots(settings.search_pending_max)
        self._ready: tuple[float, int, str] = (-READY_CACHE_S, 503, "starting")

    async def public_search(self, request: web.Request) -> web.Response:
        """The help screen's search: help articles only, short queries; a client over its rate gets 429, and all
        clients together past their share of the model's time 503, each after `TARPIT_S`; beyond what may wait
        for the model, 503 at once: a flood is refused before it costs the model anything, so it never queues in
        front of chats."""
        wait = self._per_client.wait_s(request.remote or "?")
        if wait:
            self._metrics.search_refused.labels("rate").inc()
            await asyncio.sleep(TARPIT_S)
            return _busy("too many searches from this client: slow down", wait, status=429)
        wait = self._all_clients.wait_s()
        if wait:
            self._metrics.search_refused.labels("busy").inc()
            await asyncio.sleep(TARPIT_S)
            return _busy("search is busy: try again shortly", wait)
        if not self._slots.take():
            self._metrics.search_refused.labels("busy").inc()
            return _busy("search is busy: try again shortly", 1)
        # Spent when admitted, settled when encoded: a burst of admissions cannot overdraw the budget unseen.
        estimate = self._search_cost_s
        self._all_clients.spend(estimate)

        def settle(took_s: float) -> None:
            self._all_clients.spend(took_s - estimate)
            self._search_cost_s = 0.8 * self._search_cost_s + 0.2 * took_s

        try:
            search = self._search(request, ("help_article",), self._settings.search_max_chars, settle)
            return await asyncio.wait_for(search, self._settings.search_timeout_s)
        except TimeoutError:
            self._metrics.search_refused.labels("timeout").inc()
            return _busy("search is busy: try again shortly", 1)
        finally:
            self._slots.give_back()

    async def agent_search(self, request: web.Request) -> web.Response:
        return await self._search(request, KINDS)

    async def _search(
        self,
        request: web.Request,
        kinds: tuple[str, ...],
        max_chars: int = MAX_TEXT_CHARS,
        encoded: Callable[[float], None] | None = None,
    ) -> web.Response:
        started = time.time()  # the model's clock, so the stages line up with its `Moments`
        took_from = time.perf_counter()  # took_ms by the monotonic clock: a wall-clock step cannot bend it
        try:
            q, k, kind = parse_search(dict(request.query), kinds, max_chars)
        except BadRequest as exc:
            return json_response({"error": str(exc)}, status=400)
        try:
            answer = await self._engine.query(await self._masker.embedded([q]), k, kind, Lane.SEARCH)
        except (NotStarted, BatcherClosed):
            return _busy("search is starting or changing model: try again shortly", 1)
        results = [_result(h) for h in answer.hits[0]]
        built = time.time()
        took = time.perf_counter() - took_from
        timings = search_timings(started, answer.moments, built)
        if encoded is not None:
            encoded(timings.encode_ms / 1000)
        self._metrics.search_seconds.observe(took)
        self._metrics.search_stages(answer.model_id, timings)
        response = SearchResponse(
            query=q,
            results=results,
            model=answer.model_id,
            index=answer.watermark,
            took_ms=round(took * 1000, 2),
            timings=timings if self._settings.recommendation_timings else None,
        )
        return json_response(encode(response))

    async def recommendations(self, request: web.Request) -> web.Response:
        chat_id = request.match_info["chat_id"]
        found = await self._store.load(chat_id)
        if found is None:
            return json_response({"error": f"no recommendation for chat {chat_id}"}, status=404)
        return json_response(found)

    async def ready(self, request: web.Request) -> web.Response:
        """For load balancers and probes on the public listener: the status, and nothing about the worker;
        worked out at most once a second, however often it is asked."""
        at, status, word = self._ready
        if time.monotonic() - at >= READY_CACHE_S:
            status, body = await self._health()
            at, word = time.monotonic(), body["status"]
            self._ready = (at, status, word)
        return json_response({"status": word}, status=status)

    async def health(self, request: web.Request) -> web.Response:
        status, body = await self._health()
        return json_response(body, status=status)

    async def _health(self) -> tuple[int, dict[str, Any]]:
        engine, settings = self._engine, self._settings
        if not engine.ready:
            reason = "the model is loading or Redis is connecting"
            registry = engine.models.registry
            if engine.started and registry.active is not None:
                error = engine.models.errors.get(registry.active.model_id, "still loading")
                reason = f"no model answers here: the registry's active {registry.active.model_id}: {error}"
            return 503, {"status": "starting", "reasons": [reason]}
        kv = engine.kv
        redis_ok = await kv.ping()
        recovered = self._recovered()
        if recovered:
            await engine.index_synced()
        # Redis only saves work and keeps a copy of recommendations: without it the worker still serves.
        warnings = [
            *([] if kv.durable else [f"REDIS UNAVAILABLE: using {kv.description}"]),
            *([] if redis_ok else [f"Redis does not answer at {settings.redis_url_redacted}: degraded"]),
        ]
        models = model_health(engine.models)
        active = models.get(engine.models.active_id or "")
        reasons = [] if recovered else ["the index is recovering from the content-vectors changelog"]
        if recovered and active is not None and active["lag_items"]:
            # An index that lacks items must not look healthy: a load balancer keeps searches off it.
            reasons.append(
                f"the active model's index holds {active['items']} of the table's {active['table_items']} items"
            )
        ready = not reasons
        body: dict[str, Any] = {
            "status": ("degraded" if warnings else "ok") if ready else "starting",
            "reasons": reasons,
            "broker": settings.broker,
            "redis": {"url": settings.redis_url_redacted, "backend": kv.description, "ok": redis_ok},
            "index": {
                "recovered": recovered,
                "items": 0 if active is None else active["items"],
                "vectors": 0 if active is None else active["vectors"],
                "table_items": 0 if active is None else active["table_items"],
            },
            "model": {
                "id": engine.models.active_id,
                "load_s": None if active is None else active["load_s"],
                "registry_revision": engine.models.registry.revision,
            },
            "registry": {
                "revision": self._channel.registry.revision,
                "verified": self._channel.control.verifier is not None,
                "refused": dict(self._channel.control.refused),
            },
            "models": models,
            "warnings": warnings,
        }
        return (200 if ready else 503), body

    async def models(self, request: web.Request) -> web.Response:
        return json_response(models_report(self._channel.control, self._settings.budget_chat_p99_ms))

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

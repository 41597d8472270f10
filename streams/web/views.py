"""HTTP views of a worker: `/search` for the help screen, `/recommendations/{chat_id}`, `/healthz`, `/metrics`,
and `/models` (the registry and the group's figures per model, for `/console/models`)."""

from __future__ import annotations

import time
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View

from agents.timeline import search_timings
from index.batcher import Lane
from index.vector_index import Hit
from schemas import SearchResponse, SearchResult, encode
from schemas.types import KINDS, MAX_TEXT_CHARS
from streams.engine.figures import model_health
from streams.engine.recommendation_store import RecommendationStore
from streams.engine.service import EmbeddingService
from streams.registry.channel import ControlChannel
from streams.registry.report import models_report
from streams.settings import Settings
from streams.web.metrics import Metrics

MAX_K = 50


class BadRequest(ValueError):
    pass


def parse_search(query: dict[str, str]) -> tuple[str, int, str]:
    """(q, k, kind) from the query string, or `BadRequest` saying what is wrong."""
    q = query.get("q", "").strip()
    if not q:
        raise BadRequest("q is required: GET /search?q=<text>")
    if len(q) > MAX_TEXT_CHARS:
        raise BadRequest(f"q is longer than {MAX_TEXT_CHARS} characters")
    try:
        k = int(query.get("k", "5"))
    except ValueError:
        raise BadRequest("k must be an integer from 1 to 50") from None
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be from 1 to {MAX_K}")
    kind = query.get("kind", "help_article")
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    return q, k, kind


def _result(hit: Hit) -> SearchResult:
    return SearchResult.model_validate(
        {"content_id": hit.content_id, "kind": hit.kind, "title": hit.title, "score": round(hit.score, 4)}
    )


def register_views(
    app: faust.App,
    settings: Settings,
    engine: EmbeddingService,
    store: RecommendationStore,
    metrics: Metrics,
    channel: ControlChannel,
) -> None:
    def json_response(view: View, body: bytes | dict[str, Any], status: int = 200) -> Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return view.bytes(data, content_type="application/json", status=status)

    @app.page("/search")
    class Search(View):
        async def get(self, request: Request) -> Response:
            started = time.time()  # the model's clock, so the stages line up with its `Moments`
            took_from = time.perf_counter()  # took_ms by the monotonic clock: a wall-clock step cannot bend it
            try:
                q, k, kind = parse_search(dict(request.query))
            except BadRequest as exc:
                return json_response(self, {"error": str(exc)}, status=400)
            answer = await engine.query([q], k, kind, Lane.SEARCH)
            results = [_result(h) for h in answer.hits[0]]
            built = time.time()
            took = time.perf_counter() - took_from
            timings = search_timings(started, answer.moments, built)
            metrics.search_seconds.observe(took)
            metrics.search_stages(answer.model_id, timings)
            response = SearchResponse(
                query=q,
                results=results,
                model=answer.model_id,
                index=answer.watermark,
                took_ms=round(took * 1000, 2),
                timings=timings if settings.recommendation_timings else None,
            )
            return json_response(self, encode(response))

    @app.page("/recommendations/{chat_id}")
    class Recommendations(View):
        async def get(self, request: Request, chat_id: str) -> Response:
            found = await store.load(chat_id)
            if found is None:
                return json_response(self, {"error": f"no recommendation for chat {chat_id}"}, status=404)
            return json_response(self, found)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            if not engine.ready:
                reason = "the model is loading or Redis is connecting"
                registry = engine.models.registry
                if engine.started and registry.active is not None:
                    error = engine.models.errors.get(registry.active.model_id, "still loading")
                    reason = f"no model answers here: the registry's active {registry.active.model_id}: {error}"
                return json_response(self, {"status": "starting", "reasons": [reason]}, status=503)
            kv = engine.kv
            redis_ok = await kv.ping()
            recovery = app.tables.recovery  # type: ignore[attr-defined]
            recovered = recovery.completed.is_set() and not recovery.in_recovery
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
                "models": models,
                "warnings": warnings,
            }
            return json_response(self, body, status=200 if ready else 503)

    @app.page("/models")
    class Models(View):
        async def get(self, request: Request) -> Response:
            return json_response(self, models_report(channel.control, settings.budget_chat_p99_ms))

    @app.page("/metrics")
    class Prometheus(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

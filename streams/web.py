"""HTTP views of a worker: `/search` for the help screen, `/recommendations/{chat_id}`, `/healthz`, `/metrics`."""

from __future__ import annotations

import time
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View

from index.batcher import Lane
from index.vector_index import Hit
from schemas import SearchResponse, SearchResult, encode
from schemas.types import MAX_TEXT_CHARS
from streams import recommendation_store
from streams.metrics import Metrics
from streams.runtime import Runtime
from streams.settings import Settings

KINDS = ("help_article", "saved_response")
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


def register_views(app: faust.App, settings: Settings, runtime: Runtime, metrics: Metrics) -> None:
    def json_response(view: View, body: bytes | dict[str, Any], status: int = 200) -> Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return view.bytes(data, content_type="application/json", status=status)

    @app.page("/search")
    class Search(View):
        async def get(self, request: Request) -> Response:
            started = time.perf_counter()
            try:
                q, k, kind = parse_search(dict(request.query))
            except BadRequest as exc:
                return json_response(self, {"error": str(exc)}, status=400)
            (hits,) = await runtime.query([q], k, kind, Lane.SEARCH)
            took = time.perf_counter() - started
            metrics.search_seconds.observe(took)
            response = SearchResponse(
                query=q,
                results=[_result(h) for h in hits],
                model=runtime.encoder.model_id,
                took_ms=round(took * 1000, 2),
            )
            return json_response(self, encode(response))

    @app.page("/recommendations/{chat_id}")
    class Recommendations(View):
        async def get(self, request: Request, chat_id: str) -> Response:
            found = await recommendation_store.load(await runtime.kv(), chat_id)
            if found is None:
                return json_response(self, {"error": f"no recommendation for chat {chat_id}"}, status=404)
            return json_response(self, found)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            kv = await runtime.kv()
            redis_ok = await kv.ping()
            recovery = app.tables.recovery  # type: ignore[attr-defined]
            recovered = recovery.completed.is_set() and not recovery.in_recovery
            if recovered:
                await runtime.index_synced()
            warnings = [] if kv.durable else [f"REDIS UNAVAILABLE: using {kv.description}"]
            ready = recovered and runtime.model_loaded and redis_ok
            body = {
                "status": "ok" if ready else "starting",
                "broker": settings.broker,
                "redis": {"url": settings.redis_url, "backend": kv.description, "ok": redis_ok},
                "index": {
                    "recovered": recovered,
                    "items": len(runtime.index),
                    "vectors": runtime.index.vectors.vector_count,
                },
                "model": {"id": runtime.index.model_id, "loaded": runtime.model_loaded},
                "warnings": warnings,
            }
            return json_response(self, body, status=200 if ready else 503)

    @app.page("/metrics")
    class Prometheus(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

"""The reference pages a worker serves: the agent console (`/console`, live over Server-Sent Events, feedback on
click), the models page (`/console/models`, the registry's models side by side) and the customer's help screen
(`/help`). Static files are package data under `streams/web/static/`."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View
from pydantic import BaseModel, ValidationError

from schemas import RecommendationFeedback, encode
from schemas.feedback import Action
from schemas.types import Identifier
from streams.web.console import ChatView, ConsoleFeed
from streams.web.metrics import Metrics

logger = logging.getLogger(__name__)

STATIC = {
    "style.css": "text/css",
    "console.js": "text/javascript",
    "help.js": "text/javascript",
    "models.js": "text/javascript",
}
KEEP_ALIVE_S = 15


class FeedbackRequest(BaseModel):
    chat_id: Identifier
    content_id: Identifier
    rank: int
    action: Action


def _static_files() -> dict[str, bytes]:
    """Read once, when the views are registered: no disk reads on the event loop per request."""
    folder = importlib.resources.files("streams.web") / "static"
    return {name: (folder / name).read_bytes() for name in [*STATIC, "console.html", "help.html", "models.html"]}


def _event(view: ChatView) -> bytes:
    return b"event: chat\ndata: " + orjson.dumps(view) + b"\n\n"


def register_pages(app: faust.App, console: ConsoleFeed, feedback: faust.TopicT, metrics: Metrics) -> None:
    files = _static_files()

    def page(view: View, name: str) -> Response:
        return view.bytes(files[name], content_type="text/html")

    @app.page("/console")
    class Console(View):
        async def get(self, request: Request) -> Response:
            return page(self, "console.html")

    @app.page("/console/models")
    class Models(View):
        async def get(self, request: Request) -> Response:
            return page(self, "models.html")

    @app.page("/help")
    class Help(View):
        async def get(self, request: Request) -> Response:
            return page(self, "help.html")

    @app.page("/static/{name}")
    class Static(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in STATIC:
                return self.bytes(b"not found", content_type="text/plain", status=404)
            return self.bytes(files[name], content_type=STATIC[name])

    @app.page("/console/events")
    class Events(View):
        async def get(self, request: Request) -> Any:
            stream = aiohttp_web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            )
            queue = await console.subscribe()  # reading from here on, before the browser sees the stream open
            try:
                await stream.prepare(request)  # type: ignore[arg-type]
                for view in console.snapshot():
                    await stream.write(_event(view))
                while True:
                    try:
                        view = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
                    except TimeoutError:
                        await stream.write(b": keep-alive\n\n")
                        continue
                    if view.get("closing"):
                        break
                    await stream.write(_event(view))
            except ConnectionResetError:
                pass  # the browser went away
            finally:
                console.unsubscribe(queue)
            return stream

    @app.page("/console/feedback")
    class Feedback(View):
        async def post(self, request: Request) -> Response:
            try:
                asked = FeedbackRequest.model_validate_json(await request.read())
                event = RecommendationFeedback(**asked.model_dump(), at=datetime.now(UTC))
            except ValidationError as exc:
                reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
                return self.json({"error": reason}, status=400)
            await (await feedback.send(key=event.chat_id.encode(), value=encode(event)))
            metrics.feedback.labels(event.action, str(event.rank)).inc()
            console.mark_used(event.chat_id, event.content_id)
            return self.json(event.model_dump(mode="json"), status=202)

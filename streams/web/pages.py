"""The reference pages a worker serves: the agent console (`/console`, live over Server-Sent Events, feedback on
click, for a signed-in agent), the models page (`/console/models`, the registry's models side by side) and the
customer's help screen (`/help`, on the public listener). Static files are package data under
`streams/web/static/`."""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import time
from datetime import UTC, datetime

import faust
import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from schemas import RecommendationFeedback, encode
from schemas.feedback import Action, Source
from schemas.types import Identifier
from streams.web.access import identity_of
from streams.web.ballot import Ballot
from streams.web.console import ChatView, ConsoleFeed, ConsoleFull
from streams.web.metrics import Metrics
from streams.web.session import ConsoleLogin

logger = logging.getLogger(__name__)

STATIC = {
    "style.css": "text/css",
    "console.js": "text/javascript",
    "help.js": "text/javascript",
    "models.js": "text/javascript",
}
PUBLIC_STATIC = ("style.css", "help.js")
KEEP_ALIVE_S = 15


class FeedbackRequest(BaseModel):
    chat_id: Identifier
    content_id: Identifier
    source: Source = "recommended"
    rank: int | None = None
    action: Action


def _static_files() -> dict[str, bytes]:
    """Read once, when the views are registered: no disk reads on the event loop per request."""
    folder = importlib.resources.files("streams.web") / "static"
    return {name: (folder / name).read_bytes() for name in [*STATIC, "console.html", "help.html", "models.html"]}


def _event(view: ChatView) -> bytes:
    return b"event: chat\ndata: " + orjson.dumps(view) + b"\n\n"


class Pages:
    def __init__(
        self,
        console: ConsoleFeed,
        ballot: Ballot,
        feedback: faust.TopicT,
        metrics: Metrics,
        login: ConsoleLogin | None,
    ) -> None:
        self._files = _static_files()
        self._console = console
        self._ballot = ballot
        self._feedback = feedback
        self._metrics = metrics
        self._login = login

    def _page(self, name: str) -> web.Response:
        return web.Response(body=self._files[name], content_type="text/html", charset="utf-8")

    async def console(self, request: web.Request) -> web.Response:
        return self._page("console.html")

    async def models(self, request: web.Request) -> web.Response:
        return self._page("models.html")

    async def help(self, request: web.Request) -> web.Response:
        return self._page("help.html")

    def _static(self, request: web.Request, names: tuple[str, ...] | dict[str, str]) -> web.Response:
        name = request.match_info["name"]
        if name not in names:
            return web.Response(text="not found", status=404)
        return web.Response(body=self._files[name], content_type=STATIC[name], charset="utf-8")

    async def public_static(self, request: web.Request) -> web.Response:
        return self._static(request, PUBLIC_STATIC)

    async def static(self, request: web.Request) -> web.Response:
        return self._static(request, STATIC)

    async def whoami(self, request: web.Request) -> web.Response:
        """The console's signed-in agent and the CSRF token its changes carry (none without a session)."""
        identity = identity_of(request)
        session = self._login.session(request) if self._login is not None else None
        body = {
            "name": identity.name,
            "roles": sorted(identity.roles),
            "csrf": session.csrf if session is not None else None,
            "sign_out": "/console/logout" if session is not None else None,
        }
        return web.json_response(body)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The console's feed, until the agent's token or session expires (the browser then signs in again)."""
        identity = identity_of(request)
        agent = identity.subject
        try:
            queue = await self._console.subscribe(agent)  # reading from here on, before the browser sees it open
        except ConsoleFull as exc:
            return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": "5"})
        stream = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        try:
            await stream.prepare(request)
            for view in self._console.snapshot(agent):
                await stream.write(_event(view))
            while identity.expires_at is None or time.time() < identity.expires_at:
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
            self._console.unsubscribe(queue)
        return stream

    async def feedback(self, request: web.Request) -> web.Response:
        agent = identity_of(request).subject
        try:
            asked = FeedbackRequest.model_validate_json(await request.read())
            event = RecommendationFeedback(**asked.model_dump(), agent=agent, at=datetime.now(UTC))
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3])
            return web.json_response({"error": reason}, status=400)
        refused = self._ballot.refusal(agent, event.chat_id)
        if refused is not None:
            self._metrics.feedback_refused.labels(refused.reason).inc()
            return web.json_response({"error": refused.message}, status=refused.status)
        self._ballot.voted(agent, event.chat_id)  # before the send: a second click meanwhile is a second vote
        try:
            await (await self._feedback.send(key=event.chat_id.encode(), value=encode(event)))
        except BaseException:
            self._ballot.withdraw(agent, event.chat_id)
            raise
        self._metrics.feedback.labels(event.action, str(event.rank) if event.rank else "search").inc()
        self._console.mark_used(event.chat_id, event.content_id)
        return web.json_response(event.model_dump(mode="json"), status=202)

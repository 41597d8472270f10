"""The agent console's feed: reads `chat.started` and `recommendations` with a consumer group of its own, as any
agent UI would, keeps the latest chats, and pushes each change to the browsers that listen (Server-Sent Events).

It reads only while a browser listens, from the moment the first one connects: reading every chat twice cost a
worker 7% of its event loop at 500 chats/s, which a worker nobody watches should not pay.

It runs in the worker because the worker holds the content table: each recommended response is shown with a
preview of its body, which the `recommendations` contract does not carry.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from mode import Service

from agents.masking import Masker
from schemas import ChatStarted, InvalidEvent, Recommendation, decode
from streams.clients.kafka import KafkaConnection, start_or_explain
from streams.settings import Settings
from streams.web.ballot import Ballot

logger = logging.getLogger(__name__)

KEEP_CHATS = 100
FEEDS_PER_AGENT = 5  # an agent's tabs; one agent cannot hold every feed of a worker
_SUBSCRIBER_QUEUE = 256
_JOIN_TIMEOUT_S = 60

ChatView = dict[str, Any]


class ConsoleFull(Exception):
    """As many consoles listen to this worker as it allows."""


class ConsoleFeed(Service):
    def __init__(
        self,
        settings: Settings,
        content: Callable[[str], bytes | None],
        ballot: Ballot,
        masker: Masker,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._masker = masker
        self._content = content
        self._ballot = ballot
        self._chats: OrderedDict[str, ChatView] = OrderedDict()
        self._subscribers: dict[asyncio.Queue[ChatView], str] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Future[None] | None = None
        self._previews: dict[str, tuple[bytes, str | None]] = {}

    @property
    def group_id(self) -> str:
        """One group per worker (host name and port: containers share a port, not a name), so every worker's
        console shows every chat."""
        return f"{self.settings.app_id}-console-{socket.gethostname()}-{self.settings.web_port}"

    async def on_start(self) -> None:
        kafka = KafkaConnection.of(self.settings)
        self._consumer = AIOKafkaConsumer(
            self.settings.topic_chat,
            self.settings.topic_recommendations,
            **kafka.client_options(),
            group_id=self.group_id,
            auto_offset_reset="latest",
            enable_auto_commit=True,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            fetch_max_wait_ms=self.settings.fetch_wait_ms or 100,
        )
        await start_or_explain(self._consumer, kafka)
        # Joined before the worker is ready, so that a browser connecting later is served at once.
        async with asyncio.timeout(_JOIN_TIMEOUT_S):
            while not self._consumer.assignment():
                await asyncio.sleep(0.05)
        self._consumer.pause(*self._consumer.assignment())
        self._reader = asyncio.ensure_future(self._read())

    async def on_stop(self) -> None:
        for queue in self._subscribers:
            _put_dropping_oldest(queue, {"closing": True})
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self) -> None:
        """Never raises (it ends when `on_stop` cancels it): the console is a view, and a failure here must not
        stop the worker's pipeline."""
        assert self._consumer is not None
        while True:
            if not self._subscribers:
                await asyncio.sleep(0.2)
                continue
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for message in messages:
                        await self._apply(message.topic, message.value)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the console feed failed to read; trying again in 1 s")
                await asyncio.sleep(1)

    async def _apply(self, topic: str, value: bytes | None) -> None:
        try:
            if topic == self.settings.topic_chat:
                chat = decode(ChatStarted, value)
                (text,) = await self._masker.shown([chat.text])
                view = self._view(chat.chat_id)
                view.update(text=text, created_at=chat.created_at.isoformat())
            else:
                rec = decode(Recommendation, value)
                view = self._view(rec.chat_id)
                # On an interleaved chat the agent is not told which model offered what, and the two models'
                # scores are not comparable: both could sway which response is used, and that is the vote.
                hidden = {"model", "score"} if rec.candidate is not None else {"model"}
                view.update(
                    items=[
                        {**item.model_dump(mode="json", exclude=hidden), "preview": self._preview(item.content_id)}
                        for item in rec.items
                    ],
                    latency_ms=rec.latency_ms,
                )
        except InvalidEvent:
            return  # the worker dead-letters it; the console has nothing to show
        self._publish(view)

    def _view(self, chat_id: str) -> ChatView:
        view = self._chats.pop(chat_id, None) or {"chat_id": chat_id}
        self._chats[chat_id] = view
        while len(self._chats) > KEEP_CHATS:
            self._chats.popitem(last=False)
        return view

    def _preview(self, content_id: str) -> str | None:
        """The body preview of a content row, parsed once per row: a row carries all its vectors (a saved
        response with 100 example queries is ~100 KB), and parsing it for every recommended item took a tenth
        of the worker's event loop at 500 chats/s."""
        raw = self._content(content_id)
        if raw is None:
            return None
        cached = self._previews.get(content_id)
        if cached is not None and cached[0] is raw:  # the table hands out the same bytes until the row changes
            return cached[1]
        try:
            found = orjson.loads(raw).get("preview")
        except orjson.JSONDecodeError:
            found = None
        preview = found if isinstance(found, str) else None
        self._previews[content_id] = (raw, preview)
        return preview

    def mark_used(self, chat_id: str, content_id: str) -> None:
        view = self._chats.get(chat_id)
        if view is not None:
            view["used"] = content_id
            self._publish(view)

    def _publish(self, view: ChatView) -> None:
        for queue, agent in self._subscribers.items():
            self._show(agent, view)
            _put_dropping_oldest(queue, dict(view))

    def _show(self, agent: str, view: ChatView) -> None:
        """What an agent was shown with its recommendations is what they may give feedback on."""
        if view.get("items"):
            self._ballot.shown(agent, view["chat_id"])

    def snapshot(self, agent: str) -> list[ChatView]:
        """The kept chats, oldest first (the page puts each new one on top), as shown to `agent`."""
        for view in self._chats.values():
            self._show(agent, view)
        return [dict(view) for view in self._chats.values()]

    async def subscribe(self, agent: str) -> asyncio.Queue[ChatView]:
        """A queue of updates for `agent`'s console; the first listener starts the reading, from the end of both
        topics, so every chat that starts from now on is shown. `ConsoleFull` past the configured number."""
        if len(self._subscribers) >= self.settings.console_subscribers_max:
            raise ConsoleFull(f"{len(self._subscribers)} consoles already listen to this worker")
        if sum(1 for other in self._subscribers.values() if other == agent) >= FEEDS_PER_AGENT:
            raise ConsoleFull(f"{FEEDS_PER_AGENT} of your consoles already listen to this worker")
        if not self._subscribers and self._consumer is not None:
            partitions = self._consumer.assignment()
            await self._consumer.seek_to_end(*partitions)
            self._consumer.resume(*partitions)
        queue: asyncio.Queue[ChatView] = asyncio.Queue(_SUBSCRIBER_QUEUE)
        self._subscribers[queue] = agent
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ChatView]) -> None:
        self._subscribers.pop(queue, None)
        if not self._subscribers and self._consumer is not None:
            self._consumer.pause(*self._consumer.assignment())


def _put_dropping_oldest(queue: asyncio.Queue[ChatView], view: ChatView) -> None:
    """A slow browser misses an update, never the worker's memory."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(view)

"""The agent console's feed: reads `chat.started` and `recommendations` with a consumer group of its own, as any
agent UI would, keeps the latest chats, and pushes each change to the browsers that listen (Server-Sent Events).

It runs in the worker because the worker holds the content table: each recommended response is shown with a
preview of its body, which the `recommendations` contract does not carry.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from mode import Service

from schemas import ChatStarted, ContentEntry, InvalidEvent, Recommendation, decode
from streams.clients.kafka import KafkaConnection, start_or_explain
from streams.settings import Settings

logger = logging.getLogger(__name__)

KEEP_CHATS = 100
_SUBSCRIBER_QUEUE = 256
_JOIN_TIMEOUT_S = 60

ChatView = dict[str, Any]


class ConsoleFeed(Service):
    def __init__(self, settings: Settings, content: Callable[[str], bytes | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._content = content
        self._chats: OrderedDict[str, ChatView] = OrderedDict()
        self._subscribers: set[asyncio.Queue[ChatView]] = set()
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def group_id(self) -> str:
        """One group per worker: every worker's console shows every chat."""
        return f"{self.settings.app_id}-console-{self.settings.web_host}-{self.settings.web_port}"

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
        # Joined and positioned before the worker is ready: a chat that starts after `/healthz` says 200 is shown.
        async with asyncio.timeout(_JOIN_TIMEOUT_S):
            while not self._consumer.assignment():
                await asyncio.sleep(0.05)
            for tp in self._consumer.assignment():
                await self._consumer.position(tp)
        self.add_future(self._read())

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        for queue in self._subscribers:
            queue.put_nowait({"closing": True})

    async def _read(self) -> None:
        assert self._consumer is not None
        while not self.should_stop:
            batches = await self._consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    self._apply(message.topic, message.value)

    def _apply(self, topic: str, value: bytes | None) -> None:
        try:
            if topic == self.settings.topic_chat:
                chat = decode(ChatStarted, value)
                view = self._view(chat.chat_id)
                view.update(text=chat.text, created_at=chat.created_at.isoformat())
            else:
                rec = decode(Recommendation, value)
                view = self._view(rec.chat_id)
                view.update(
                    items=[
                        {**item.model_dump(mode="json"), "preview": self._preview(item.content_id)}
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
        raw = self._content(content_id)
        return None if raw is None else ContentEntry.model_validate_json(raw).preview

    def mark_used(self, chat_id: str, content_id: str) -> None:
        view = self._chats.get(chat_id)
        if view is not None:
            view["used"] = content_id
            self._publish(view)

    def _publish(self, view: ChatView) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # a slow browser misses an update, never the worker's memory
            queue.put_nowait(dict(view))

    def snapshot(self) -> list[ChatView]:
        """The kept chats, oldest first (the page puts each new one on top)."""
        return [dict(view) for view in self._chats.values()]

    def subscribe(self) -> asyncio.Queue[ChatView]:
        queue: asyncio.Queue[ChatView] = asyncio.Queue(_SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ChatView]) -> None:
        self._subscribers.discard(queue)

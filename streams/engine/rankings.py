"""Each model's ranking of a chat's saved responses, kept in Redis for the feedback that comes minutes later.

A shadow-scored chat keeps the active model's ranking beside every candidate's; any other chat's ranking is the
recommendation the agent saw (`RecommendationStore`), which on an interleaved chat names the model that contributed
each item. Redis only serves the figures: when it fails, feedback on
those chats is not counted, and nothing else changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from redis.exceptions import RedisError

from agents.ports import Ranked
from index.kv import KeyValue
from schemas import InvalidEvent, Recommendation, decode
from streams.engine.recommendation_store import RecommendationStore

logger = logging.getLogger(__name__)

_PREFIX = "helpstream:ranks:"
_VOTED = "helpstream:voted:"


class RankingStore:
    def __init__(self, kv: Callable[[], KeyValue], recommendations: RecommendationStore, ttl_s: float) -> None:
        self._kv = kv
        self._recommendations = recommendations
        self._ttl_s = ttl_s
        self.failures = 0

    async def save(self, active: dict[str, str], rankings: dict[str, dict[str, list[str]]]) -> None:
        """`rankings[chat_id][model_id]` = content ids best first; `active[chat_id]` = the model that answered."""
        items = {
            _PREFIX + chat_id: orjson.dumps({"active": active[chat_id], "rankings": ranked})
            for chat_id, ranked in rankings.items()
        }
        try:
            await self._kv().set_many(items, ttl_s=self._ttl_s)
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning("could not keep %s shadow rankings in Redis (%r)", len(items), exc)

    async def rankings(self, chat_id: str) -> Ranked | None:
        """What the chat was shown and by which models, or None when it is unknown (expired, Redis down)."""
        try:
            (raw,) = await self._kv().get_many([_PREFIX + chat_id])
            if raw is not None:
                record = orjson.loads(raw)
                return Ranked(str(record["active"]), {str(k): list(v) for k, v in record["rankings"].items()})
            found = await self._recommendations.load(chat_id)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("the rankings of chat %s cannot be read (%r): its feedback is not counted", chat_id, exc)
            return None
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning("could not read the rankings of chat %s (%r): its feedback is not counted", chat_id, exc)
            return None
        if found is None:
            return None
        try:
            rec = decode(Recommendation, found)
        except InvalidEvent:
            return None
        if rec.candidate is not None:
            credited = {item.content_id: item.model for item in rec.items}
            return Ranked(rec.model, {}, candidate=rec.candidate, credited=credited)
        return Ranked(rec.model, {rec.model: [item.content_id for item in rec.items]})

    async def first_vote(self, chat_id: str) -> bool:
        """Whether this is the first used response counted for the chat: a chat counts once in the figures,
        however many agents or events name it. Not counted when Redis cannot say."""
        try:
            return await self._kv().add_once(_VOTED + chat_id, b"1", self._ttl_s)
        except (RedisError, OSError) as exc:
            self.failures += 1
            logger.warning("could not record the vote on chat %s (%r): it is not counted", chat_id, exc)
            return False

"""Which chats each agent's console was shown, and which they already voted on: an agent's feedback counts only for
a chat this worker showed them with its recommendations, and once per chat."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

# Per agent, the most recent chats remembered (the console keeps far fewer on screen), and agents at once.
CHATS_PER_AGENT = 1_000
AGENTS = 10_000


class _Recent:
    """A bounded set of keys per agent, forgetting the least recently added first."""

    def __init__(self) -> None:
        self._by_agent: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def add(self, agent: str, chat_id: str) -> None:
        chats = self._by_agent.pop(agent, None) or OrderedDict()
        self._by_agent[agent] = chats
        chats[chat_id] = None
        chats.move_to_end(chat_id)
        while len(chats) > CHATS_PER_AGENT:
            chats.popitem(last=False)
        while len(self._by_agent) > AGENTS:
            self._by_agent.popitem(last=False)

    def holds(self, agent: str, chat_id: str) -> bool:
        return chat_id in self._by_agent.get(agent, ())

    def discard(self, agent: str, chat_id: str) -> None:
        self._by_agent.get(agent, OrderedDict()).pop(chat_id, None)


@dataclass(frozen=True)
class Refusal:
    status: int  # the HTTP answer: 403 not shown, 409 a second vote
    reason: str  # the metric's label
    message: str


class Ballot:
    def __init__(self) -> None:
        self._shown = _Recent()
        self._voted = _Recent()

    def shown(self, agent: str, chat_id: str) -> None:
        self._shown.add(agent, chat_id)

    def refusal(self, agent: str, chat_id: str) -> Refusal | None:
        """Why `agent` may not vote on `chat_id`, or None."""
        if not self._shown.holds(agent, chat_id):
            return Refusal(403, "not shown", f"chat {chat_id} was not shown with recommendations in your console")
        if self._voted.holds(agent, chat_id):
            return Refusal(409, "second vote", f"you already gave feedback on chat {chat_id}")
        return None

    def voted(self, agent: str, chat_id: str) -> None:
        self._voted.add(agent, chat_id)

    def withdraw(self, agent: str, chat_id: str) -> None:
        """A vote that could not be published: the agent may try again."""
        self._voted.discard(agent, chat_id)

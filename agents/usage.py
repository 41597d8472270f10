"""Training data from usage: a response an agent used, joined with the chat's masked text and the list the agent
was shown, becomes a `UsageExample` on the usage topic (`agents.feedback` calls it once per chat)."""

from __future__ import annotations

from agents.ports import ChatTexts, Ranked
from schemas import RecommendationFeedback, UsageExample


class UsageJoin:
    def __init__(self, texts: ChatTexts) -> None:
        self._texts = texts

    async def example(self, feedback: RecommendationFeedback, found: Ranked) -> UsageExample | None:
        """None when the chat's text is no longer kept: an example without the customer's words teaches nothing."""
        text = await self._texts.text(feedback.chat_id)
        if text is None:
            return None
        shown = list(found.credited) if found.credited is not None else found.rankings.get(found.active, [])
        return UsageExample(
            chat_id=feedback.chat_id,
            text=text,
            content_id=feedback.content_id,
            source=feedback.source,
            rank=feedback.rank,
            shown=shown,
            model=found.active,
            candidate=found.candidate,
            agent=feedback.agent,
            at=feedback.at,
        )

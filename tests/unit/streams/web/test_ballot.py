from __future__ import annotations

from streams.web.ballot import Ballot


def test_an_agent_votes_once_and_only_on_a_chat_shown_to_them() -> None:
    ballot = Ballot()
    assert ballot.refusal("ann", "c-1") is not None and ballot.refusal("ann", "c-1").status == 403  # type: ignore[union-attr]
    ballot.shown("ann", "c-1")
    assert ballot.refusal("ann", "c-1") is None
    assert ballot.refusal("bob", "c-1").status == 403  # type: ignore[union-attr]
    ballot.voted("ann", "c-1")
    refusal = ballot.refusal("ann", "c-1")
    assert refusal is not None and (refusal.status, refusal.reason) == (409, "second vote")

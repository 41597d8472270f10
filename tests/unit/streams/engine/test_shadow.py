"""Shadow sampling: a share of the chats, the same ones on every worker and every retry."""

from __future__ import annotations

from streams.engine.shadow import sampled


def test_the_share_of_chats_sampled_is_close_to_the_setting_and_the_same_everywhere() -> None:
    ids = [f"c-{i}" for i in range(20_000)]
    for share in (0.0, 0.25, 0.5, 1.0):
        picked = [chat_id for chat_id in ids if sampled(chat_id, share)]
        assert abs(len(picked) / len(ids) - share) < 0.02
        assert picked == [chat_id for chat_id in ids if sampled(chat_id, share)]

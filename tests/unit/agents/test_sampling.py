"""Shadow scoring and interleaving each take their share of chats, the same ones everywhere, never the same chat."""

from __future__ import annotations

from agents.sampling import interleaved, shadowed


def test_each_share_of_chats_is_close_to_its_setting_the_same_everywhere_and_the_two_never_overlap() -> None:
    ids = [f"c-{i}" for i in range(20_000)]
    for share in (0.0, 0.25, 0.5, 1.0):
        for picks in (shadowed, interleaved):
            picked = [chat_id for chat_id in ids if picks(chat_id, share)]
            assert abs(len(picked) / len(ids) - share) < 0.02
            assert picked == [chat_id for chat_id in ids if picks(chat_id, share)]
    for shadow, interleave in ((0.25, 0.75), (0.5, 0.5), (0.3, 0.2), (0.07, 0.93)):
        assert not any(shadowed(c, shadow) and interleaved(c, interleave) for c in ids)

from __future__ import annotations

from index.onnx_encoder import length_groups


def test_texts_of_similar_length_share_a_group_and_every_text_is_in_exactly_one() -> None:
    lengths = [60, 8, 9, 61, 10, 8, 30, 31]
    groups = length_groups(lengths, max_group=4)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    for group in groups:
        longest = max(lengths[i] for i in group)
        padding = sum(longest - lengths[i] for i in group)
        assert padding <= 0.25 * longest * len(group)


def test_a_group_never_exceeds_the_maximum_size() -> None:
    assert max(len(g) for g in length_groups([12] * 100, max_group=16)) == 16

"""Masking customers' personal data: what it finds on a corpus of varied formats, and what it leaves alone."""

from __future__ import annotations

from collections import Counter

import pytest

from schemas.pii import find_and_mask, mask
from tests.pii_corpus import corpus


def test_on_the_corpus_every_card_is_masked_and_almost_nothing_else_is_touched(
    figures: list[tuple[str, str]],
) -> None:
    with_pii, without = corpus()
    assert len(with_pii) >= 200 and len(without) >= 200
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missed = []
    for message in with_pii:
        masked = find_and_mask(message.text)
        for kind, value in message.secrets:
            total[kind] += 1
            if value not in masked.text and masked.found[kind]:
                found[kind] += 1
            else:
                missed.append((message.text, masked.text))
    changed = [(m.text, mask(m.text)) for m in without if mask(m.text) != m.text]
    recall = sum(found.values()) / sum(total.values())
    per_kind = ", ".join(f"{kind} {found[kind]}/{total[kind]}" for kind in sorted(total))
    figures.append(("PII masking recall on the synthetic corpus", f"{recall:.3f} ({per_kind})"))
    figures.append(("PII masking false positives", f"{len(changed)} of {len(without)} messages without PII"))
    assert found["card"] == total["card"], missed
    assert recall >= 0.98, missed
    assert len(changed) / len(without) <= 0.02, changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 declined", "card [card ending 1111] declined"),
        ("pay GB29 NWBK 6016 1331 9268 19 today", "pay [IBAN] today"),
        ("sort code 60-16-13 account 31926819", "sort code [sort code] account [account]"),
        ("mail me at jane.doe@example.org.", "mail me at [email]."),
        ("ring 07700 900123 after 5", "ring [phone] after 5"),
    ],
)
def test_each_kind_is_replaced_by_its_label_and_the_rest_of_the_message_kept(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_numbers_that_fail_their_check_are_left_as_they_are() -> None:
    assert mask("order 4111 1111 1111 1112 and GB00 NWBK 6016 1331 9268 19") == (
        "order 4111 1111 1111 1112 and GB00 NWBK 6016 1331 9268 19"
    )

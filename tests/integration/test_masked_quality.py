"""What masking costs in quality: held-out demo chats with a card number, an IBAN, an email, a phone or an account
typed into them, searched raw and masked by the default model, beside the chats as they were."""

from __future__ import annotations

import random
from pathlib import Path

from index.backends import load_encoder
from index.cpu import this_cpu
from index.models import DEFAULT_MODEL, resolve
from schemas.pii import mask
from streams.clients.publish import read_chats, read_content
from streams.demo.datasets import demo_chats, demo_content
from streams.tune.data import KIND
from streams.tune.evaluate import quality
from tests.pii_corpus import with_personal_data

ITEMS = 12  # saved responses: their texts are most of the model's work here


def test_masked_chats_are_searched_as_well_as_the_same_chats_with_personal_data_raw(
    data_dir: Path, figures: list[tuple[str, str]]
) -> None:
    content = [c for c in read_content(demo_content()) if c.kind == KIND][:ITEMS]
    ids = {c.content_id for c in content}
    chats = [(c.text, c.intent) for c in read_chats(demo_chats()) if c.intent in ids]
    rng = random.Random(11)
    typed = [(with_personal_data(text, rng), intent) for text, intent in chats]
    masked = [(mask(text), intent) for text, intent in typed]
    encoder = load_encoder(resolve(DEFAULT_MODEL), "onnx", data_dir / "models", threads=2, batch_size=32)
    clean, raw, hidden = (quality(encoder.encode, content, queries, KIND) for queries in (chats, typed, masked))
    figures.append(
        (
            f"top-1 of {len(chats)} held-out chats on {ITEMS} saved responses ({this_cpu().describe()})",
            f"as they were {clean.top1:.1%}, with personal data raw {raw.top1:.1%}, masked {hidden.top1:.1%}",
        )
    )
    assert hidden.top1 >= raw.top1 - 0.02
    assert hidden.top1 >= clean.top1 - 0.05

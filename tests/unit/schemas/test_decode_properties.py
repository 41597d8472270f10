"""Property-based: whatever bytes arrive, decoding either yields a valid record or says why, and the dead letter
for them always fits in one Kafka message and keeps them, masked."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import ChatStarted, ContentUpdated, DeadLetter, InvalidEvent, decode, encode
from schemas.dead_letter import MAX_ORIGINAL_BYTES
from schemas.pii import mask_bytes
from schemas.types import MAX_EVENT_BYTES

KAFKA_DEFAULT_MAX_MESSAGE = 1024 * 1024
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=20,
)
FIELDS = {
    "chat_id": st.text(max_size=250) | st.integers(),
    "text": st.text(max_size=4100) | st.none(),
    "created_at": st.sampled_from(["2026-11-29T09:00:00Z", "yesterday", "2026-11-29T09:00:00", ""]),
    "content_id": st.text(max_size=250),
    "op": st.sampled_from(["upsert", "delete", "merge"]),
    "version": st.integers(min_value=-2, max_value=2**70) | st.text(max_size=3),
    "kind": st.sampled_from(["saved_response", "help_article", "faq"]),
    "title": st.text(max_size=320),
    "body": st.text(max_size=50),
    "example_queries": st.lists(st.text(max_size=30), max_size=5) | st.text(max_size=5),
}
# The stdlib writes what orjson refuses to (integers past 64 bits, Infinity): bytes a producer might send.
EVENTS = st.fixed_dictionaries({}, optional=FIELDS).map(lambda event: json.dumps(event).encode())
BYTES = st.binary(max_size=2000) | JSON.map(lambda value: json.dumps(value).encode()) | EVENTS


def decodes_or_explains(model: type[ChatStarted] | type[ContentUpdated], raw: bytes) -> None:
    try:
        record = decode(model, raw)
    except InvalidEvent as exc:
        assert str(exc) and "\n" not in str(exc)
        letter = DeadLetter.of(
            source_topic="t", partition=0, offset=0, reason=str(exc), key=raw, value=raw, received_at=datetime.now(UTC)
        )
        assert len(encode(letter)) < KAFKA_DEFAULT_MAX_MESSAGE
        # What it keeps is the original with personal data masked: the same bytes wherever there was none.
        assert DeadLetter.model_validate_json(encode(letter)).value_b64 == mask_bytes(raw, MAX_ORIGINAL_BYTES)
    else:
        assert decode(model, encode(record)) == record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BYTES)
def test_any_bytes_on_the_chat_topic_decode_or_get_a_one_line_reason(raw: bytes) -> None:
    decodes_or_explains(ChatStarted, raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BYTES)
def test_any_bytes_on_the_content_topic_decode_or_get_a_one_line_reason(raw: bytes) -> None:
    decodes_or_explains(ContentUpdated, raw)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=MAX_EVENT_BYTES + 1, max_value=3 * MAX_EVENT_BYTES))
def test_an_event_over_the_size_limit_is_refused_before_parsing_and_its_dead_letter_fits(size: int) -> None:
    # A valid chat padded with an unknown field: without the size guard it would parse and be accepted.
    head = b'{"chat_id": "c", "text": "card?", "created_at": "2026-11-29T09:00:00Z", "padding": "'
    raw = head + b"x" * (size - len(head) - 2) + b'"}'
    assert len(raw) == size
    with pytest.raises(InvalidEvent, match=f"event is {size:,} bytes, over the limit of {MAX_EVENT_BYTES:,} bytes"):
        decode(ChatStarted, raw)
    decodes_or_explains(ChatStarted, raw)

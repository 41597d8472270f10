from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas import ChatStarted, ContentEntry, ContentUpdated, DeadLetter, InvalidEvent, decode, encode
from schemas.content_entry import ModelVectors


def test_a_plain_json_chat_decodes_and_unknown_fields_are_ignored() -> None:
    raw = b'{"chat_id":"c-81f2","customer_id":"u-1937","text":"card?","created_at":"2026-11-29T09:00:00.000Z","x":1}'
    chat = decode(ChatStarted, raw)
    assert chat.chat_id == "c-81f2"
    assert chat.created_at == datetime(2026, 11, 29, 9, tzinfo=UTC)
    assert orjson.loads(encode(chat)) == {
        "chat_id": "c-81f2",
        "customer_id": "u-1937",
        "text": "card?",
        "created_at": "2026-11-29T09:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "not valid JSON"),
        (b'"text"', "expected a JSON object, got str"),
        (b'{"chat_id":"c","created_at":"2026-11-29T09:00:00Z"}', "text: Field required"),
        (b'{"chat_id":7,"text":"a","created_at":"2026-11-29T09:00:00Z"}', "chat_id: Input should be a valid string"),
        (b'{"chat_id":"c","text":"","created_at":"2026-11-29T09:00:00Z"}', "text: String should have at least 1"),
        (b'{"chat_id":"c","text":"a","created_at":"2026-11-29T09:00:00"}', "created_at: Input should have timezone"),
        (None, "empty value"),
    ],
)
def test_a_malformed_chat_is_rejected_with_a_readable_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode(ChatStarted, raw)


def test_oversized_text_is_rejected() -> None:
    raw = orjson.dumps({"chat_id": "c", "text": "x" * 4001, "created_at": "2026-11-29T09:00:00Z"})
    with pytest.raises(InvalidEvent, match="at most 4000 characters"):
        decode(ChatStarted, raw)


def test_a_delete_needs_only_id_op_and_version_but_an_upsert_needs_its_text() -> None:
    delete = decode(ContentUpdated, b'{"content_id":"a","op":"delete","version":3}')
    assert delete.texts() == []
    with pytest.raises(InvalidEvent, match="an upsert needs kind, title, body"):
        decode(ContentUpdated, b'{"content_id":"a","op":"upsert","version":3}')
    with pytest.raises(InvalidEvent, match="op: Input should be 'upsert' or 'delete'"):
        decode(ContentUpdated, b'{"content_id":"a","op":"remove","version":3}')
    with pytest.raises(InvalidEvent, match="version"):
        decode(ContentUpdated, b'{"content_id":"a","op":"delete","version":"3"}')


def test_an_item_is_indexed_as_its_title_and_body_plus_each_example_query() -> None:
    item = ContentUpdated(
        content_id="a", op="upsert", version=1, kind="saved_response", title="T", body="B", example_queries=["q1", "q2"]
    )
    assert item.texts() == ["T. B", "q1", "q2"]


def test_bytes_travel_as_base64_and_come_back_intact() -> None:
    letter = DeadLetter(
        source_topic="t",
        partition=1,
        offset=2,
        reason="r",
        key_b64=b"k",
        value_b64=b"\xff\x00",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    body = orjson.loads(encode(letter))
    assert body["value_b64"] == "/wA="
    assert decode(DeadLetter, encode(letter)) == letter
    entry = ContentEntry(content_id="a", version=1, vectors={"m": ModelVectors(data=b"\x00\x01")})
    assert ContentEntry.model_validate_json(encode(entry)).vectors["m"].data == b"\x00\x01"

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from schemas.json_schema import json_schemas

EXPORTED = Path(__file__).resolve().parents[3] / "schemas" / "json"


def test_exported_schema_files_match_the_code() -> None:
    """`helpstream schemas` writes these files; other teams read them, so they must never drift."""
    schemas = json_schemas()
    assert sorted(p.name for p in EXPORTED.glob("*.json")) == sorted(schemas)
    for name, schema in schemas.items():
        assert json.loads((EXPORTED / name).read_text()) == schema, f"{name} is stale: run `helpstream schemas`"


def test_the_design_doc_examples_with_their_index_watermark_validate_against_the_exported_schemas() -> None:
    schemas = json_schemas()
    watermark = {"items": 83, "table_items": 83, "changes": 90, "last_change": "card_arrival@7"}
    examples = {
        "chat.started.schema.json": {
            "chat_id": "c-81f2",
            "customer_id": "u-1937",
            "text": "I ordered a card a week ago and it still hasn't arrived",
            "created_at": "2026-11-29T09:00:00.000Z",
        },
        "content.updated.schema.json": {
            "content_id": "card_arrival",
            "kind": "saved_response",
            "op": "upsert",
            "version": 7,
            "title": "Your card is on its way",
            "body": "Cards usually…",
            "tags": ["cards"],
            "example_queries": ["where is my new card?"],
            "updated_at": "2026-11-29T08:00:00.000Z",
        },
        "recommendations.schema.json": {
            "chat_id": "c-81f2",
            "items": [
                {
                    "content_id": "card_arrival",
                    "kind": "saved_response",
                    "title": "Your card is on its way",
                    "score": 0.83,
                }
            ],
            "model": "all-MiniLM-L6-v2",
            "index": watermark,
            "created_at": "2026-11-29T09:00:00.021Z",
            "latency_ms": 21.4,
        },
        "search-response.schema.json": {
            "query": "card not arrived",
            "results": [{"content_id": "a", "kind": "help_article", "title": "t", "score": 0.71}],
            "model": "all-MiniLM-L6-v2",
            "index": watermark,
            "took_ms": 4.2,
        },
    }
    for name, example in examples.items():
        jsonschema.validate(example, schemas[name])
    without = {k: v for k, v in examples["recommendations.schema.json"].items() if k != "index"}
    with pytest.raises(jsonschema.ValidationError, match="'index' is a required property"):
        jsonschema.validate(without, schemas["recommendations.schema.json"])

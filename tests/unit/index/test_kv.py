"""The key-value store's URL handling: a password never shows."""

from __future__ import annotations

from index.kv import redacted


def test_a_redis_password_never_shows_in_either_place_it_can_be_written() -> None:
    assert redacted("redis://:hunter2@host:6379/0") == "redis://:***@host:6379/0"
    assert redacted("rediss://user:hunter2@host:6380/0") == "rediss://user:***@host:6380/0"
    assert "hunter2" not in redacted("redis://host:6379/0?password=hunter2&ssl_cert_reqs=none")
    assert redacted("redis://host:6379/0") == "redis://host:6379/0"

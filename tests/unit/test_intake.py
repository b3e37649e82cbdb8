"""Idempotency keys: which MQTT messages are the same event."""

from __future__ import annotations

from bridge.intake import idempotency_key


def test_idempotency_key_uses_the_producer_id_with_the_topic_else_the_content() -> None:
    assert idempotency_key("a", b'{"id": "x", "v": 1}', "x") == idempotency_key("a", b'{"id": "x", "v": 2}', "x")
    assert idempotency_key("a", b"", "x") != idempotency_key("b", b"", "x")
    assert not idempotency_key("a", b"", "x").by_content
    content = idempotency_key("a", b"ON", None)
    assert content.by_content and content == idempotency_key("a", b"ON", None) != idempotency_key("a", b"OFF", None)

"""Idempotency keys: which MQTT messages are the same event."""

from bridge.events import InboundMessage
from bridge.intake import idempotency_key
from bridge.outbox_records import IdempotencyKey

T0 = 1_700_000_000.0


def test_idempotency_key_uses_payload_id_with_topic_else_content() -> None:
    def key(topic: str, payload: bytes) -> IdempotencyKey:
        return idempotency_key(InboundMessage(topic, payload, False, T0), max_payload_bytes=1000)

    assert key("a", b'{"id": "x", "v": 1}') == key("a", b'{"id": "x", "v": 2}')
    assert key("a", b'{"id": "x"}') != key("b", b'{"id": "x"}')
    assert key("a", b'{"id": 7}') == key("a", b'{"id": "7"}')
    assert not key("a", b'{"id": "x"}').by_content
    assert key("a", b"ON").by_content and key("a", b"ON") == key("a", b"ON") != key("a", b"OFF")
    assert key("a", b"\xff" * 2000).by_content  # undecodable or too large: its content

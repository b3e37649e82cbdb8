"""How messages come off paho: in order, with the flags the intake needs, and never stuck."""

from __future__ import annotations

import logging

import aiomqtt
import paho.mqtt.client as paho
import pytest

from bridge.events import InboundMessage
from bridge.mqtt.receiver import Receiver


def paho_message(mid: int, topic: bytes, payload: bytes, *, qos: int = 1, retain: bool = False,
                 dup: bool = False) -> paho.MQTTMessage:
    message = paho.MQTTMessage(mid=mid, topic=topic)
    message.payload, message.qos, message.retain, message.dup = payload, qos, retain, dup
    return message


async def test_messages_keep_their_order_flags_and_ids() -> None:
    receiver = Receiver(aiomqtt.Client("127.0.0.1", 1))  # never connected: nothing here needs it
    receiver._on_message(None, None, paho_message(7, b"home/door", b'{"open": true}', dup=True))  # type: ignore[arg-type]
    receiver._on_message(None, None, paho_message(8, b"home/tv", b"ON", qos=0, retain=True))  # type: ignore[arg-type]

    assert receiver.arrived.is_set()
    [(first, first_mid), (second, second_mid)] = receiver.inbox
    assert (first_mid, second_mid) == (7, 8)
    assert first == InboundMessage(topic="home/door", payload=b'{"open": true}', retain=False,
                                   received_at=first.received_at,
                                   qos=1, dup=True)
    assert second == InboundMessage(topic="home/tv", payload=b"ON", retain=True, received_at=second.received_at,
                                    qos=0, dup=False)


async def test_a_topic_that_is_not_utf8_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(aiomqtt.Client("127.0.0.1", 1))
    with caplog.at_level(logging.WARNING, logger="bridge.mqtt.receiver"):
        receiver._on_message(None, None, paho_message(9, b"home/\xff", b"x"))  # type: ignore[arg-type]

    assert not receiver.inbox and not receiver.arrived.is_set()
    assert "dropped a message whose topic is not UTF-8: b'home/\\xff'" in caplog.text

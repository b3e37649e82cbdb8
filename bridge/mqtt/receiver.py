"""Messages off paho's network thread, each acknowledged only when the intake says so (manual ack)."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

import aiomqtt
import paho.mqtt.client as paho

from bridge.events import InboundMessage

log = logging.getLogger(__name__)


class Receiver:
    """Takes messages straight from paho: the one place that reaches into aiomqtt's paho client.

    Acknowledge-after-commit: aiomqtt 2.5 lets paho send each QoS 1 PUBACK as soon as the message
    arrives and has no switch for it (aiomqtt issue #345). paho 2.x underneath has one:
    `manual_ack_set(True)`, then `ack(mid, qos)` per message. It must be switched on before
    connecting: a resumed session's queued messages arrive right after CONNACK, and paho decides
    on arrival.

    The messages themselves bypass aiomqtt's queue and iterator, which cost a task and an
    `asyncio.wait` per message, about a fifth of the bridge's CPU in an ingest burst (py-spy); and
    aiomqtt's `Message` drops the DUP flag and the message id we need. paho calls `on_message`
    from aiomqtt's socket reader, on the event loop's thread.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self._paho: paho.Client = client._client  # private in aiomqtt 2.5, pinned in pyproject
        self._paho.manual_ack_set(True)
        self._paho.on_message = self._on_message
        #: Received and not yet handed on: (message, paho's message id for its PUBACK).
        self.inbox: collections.deque[tuple[InboundMessage, int]] = collections.deque()
        self.arrived = asyncio.Event()

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # a broker must refuse such topics; acknowledged, or it comes back forever
            log.warning("MQTT: dropped a message whose topic is not UTF-8: %r", message._topic)
            self.ack(message.mid, message.qos)
            return
        payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload)
        self.inbox.append((InboundMessage(topic=topic, payload=payload, retain=bool(message.retain),
                                          received_at=time.time(), qos=message.qos, dup=bool(message.dup)),
                           message.mid))
        self.arrived.set()

    def ack(self, mid: int, qos: int) -> bool:
        if qos == 0:
            return True
        return self._paho.ack(mid, qos) == paho.MQTT_ERR_SUCCESS

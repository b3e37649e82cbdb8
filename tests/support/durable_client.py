"""An MQTT producer/observer that survives broker restarts, for the fault-injection tests.

Unlike `TestClient` it uses a persistent session (fixed client id, clean session off) and
reconnects within a fraction of a second, so that a broker restart loses neither the events it
publishes (paho re-sends unacknowledged QoS 1 publishes) nor the reports it subscribed to (the
broker queues them for the session).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mqtt_client import close_wakeup_sockets


class DurableClient:
    __test__ = False

    def __init__(self, host: str, port: int, client_id: str, topics: Iterable[str] = ()) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self._topics = list(topics)
        self._cond = threading.Condition()
        self._received: list[tuple[str, bytes]] = []
        self._published: set[int] = set()
        self._connected = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError(f"{client_id} could not connect to {host}:{port}")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        for topic in self._topics:
            client.subscribe(topic, qos=1)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._cond:
            self._received.append((message.topic, message.payload))
            self._cond.notify_all()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._cond:
            self._published.add(mid)
            self._cond.notify_all()

    def publish(self, topic: str, payload: str | bytes) -> int:
        """QoS 1; returns the mid. While the broker is away paho keeps it and sends it later."""
        return self._client.publish(topic, payload, qos=1).mid

    def publish_json(self, topic: str, value: Any) -> int:
        return self.publish(topic, json.dumps(value))

    def wait_published(self, mids: Iterable[int], timeout: float = 30.0) -> None:
        wanted = set(mids)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not wanted <= self._published:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(wanted - self._published)} of {len(wanted)} publishes "
                                         f"not acknowledged by the broker after {timeout} s")
                self._cond.wait(remaining)

    def received(self, topic: str | None = None) -> list[tuple[str, bytes]]:
        with self._cond:
            return [m for m in self._received if topic is None or m[0] == topic]

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {what}")
            time.sleep(0.1)

    def close(self, *, forget: bool = True) -> None:
        """Disconnect; `forget` also ends the session on the broker, so it queues nothing more for us."""
        self._client.loop_stop()
        self._client.disconnect()
        close_wakeup_sockets(self._client)
        if forget:
            forget_session(self._client.host, self._client.port, self._client._client_id.decode())


def forget_session(host: str, port: int, client_id: str) -> None:
    """End a persistent session by connecting once with a clean session under its client id."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    try:
        client.connect(host, port)
        client.loop_start()
        time.sleep(0.1)
        client.disconnect()
        client.loop_stop()
    except OSError:
        pass  # the broker is gone, and the session with it
    finally:
        close_wakeup_sockets(client)

"""A plain paho client for tests: publish as a producer would, and collect what the bridge says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def close_wakeup_sockets(client: paho.Client) -> None:
    """Close the socket pair paho wakes its loop with, once the client is stopped.

    paho closes it only in `Client.__del__`; when the garbage collector takes a client in a
    reference cycle, the sockets may be finalised first and warn that they were left open, which
    pytest turns into a failed run at exit.
    """
    client._reset_sockets(sockpair_only=True)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def json(self) -> Any:
        return json.loads(self.payload)


class TestClient:
    """Subscribes to `topics` and records every message; `wait_for` blocks until a match."""

    __test__ = False  # not a pytest class

    def __init__(self, host: str, port: int, topics: list[str] | None = None, *, ca_file: str | None = None,
                 username: str | None = None, password: str | None = None) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{time.monotonic_ns()}")
        if ca_file is not None:
            self._client.tls_set(ca_certs=ca_file)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self._topics = topics or []
        self._connected = threading.Event()
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("test client could not connect to the broker")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        for topic in self._topics:
            client.subscribe(topic, qos=1)
        self._connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._cond:
            self._received.append(Received(message.topic, message.payload, bool(message.retain), message.qos))
            self._cond.notify_all()

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)

    def messages(self, topic: str | None = None) -> list[Received]:
        with self._cond:
            return [m for m in self._received if topic is None or m.topic == topic]

    def wait_for(self, predicate: Callable[[Received], bool], *, count: int = 1, timeout: float = 15.0,
                 what: str = "messages") -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self._received if predicate(m)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = "\n".join(f"  {m.topic}: {m.payload[:200]!r}" for m in self._received[-20:])
                    raise AssertionError(f"waited {timeout} s for {count} {what}, got {len(found)}; last seen:\n{seen}")
                self._cond.wait(remaining)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
        close_wakeup_sockets(self._client)

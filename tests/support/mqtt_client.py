"""The MQTT client of the tests: publish as a producer would, and record what the bridge says.

One client for every test. By default a clean session on a fresh client id; `persistent=True`
(a fixed `client_id`, clean session off, reconnecting within half a second) survives broker
restarts for the fault-injection tests: paho re-sends unacknowledged QoS 1 publishes, and the
broker queues the reports subscribed to while it is away.

`wait_for` blocks until the recorded messages hold what the test expects; `retained` is what a
client subscribing now gets as retained messages, known to be all of them (see there).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.waiting import wait_for

_ids = itertools.count(1)


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
    """Subscribes to `topics` (QoS 1, acknowledged before the constructor returns) and records every message."""

    __test__ = False  # not a pytest class

    def __init__(self, host: str, port: int, topics: Iterable[str] = (), *, client_id: str | None = None,
                 persistent: bool = False, ca_file: str | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        self.client_id = client_id or f"test-{time.monotonic_ns()}-{next(_ids)}"
        self._persistent = persistent
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                   clean_session=not persistent)
        if persistent:
            self._client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        if ca_file is not None:
            self._client.tls_set(ca_certs=ca_file)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._topics = list(topics)
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._acknowledged: set[int] = set()
        self._subscribed = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"test client {self.client_id} could not connect and subscribe to {host}:{port}")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._topics:
            client.subscribe([(topic, 1) for topic in self._topics])
        else:
            self._subscribed.set()

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._received.append(Received(message.topic, message.payload, bool(message.retain), message.qos))

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self._acknowledged.add(mid)

    # --- publishing ----------------------------------------------------------------------------

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False,
                wait: bool = True) -> int:
        """Publish and return the message id; `wait=False` returns at once (paho keeps it while the
        broker is away, and sends it after the reconnect: see `wait_published`)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(10)
        return info.mid

    def publish_json(self, topic: str, value: Any, *, wait: bool = True) -> int:
        return self.publish(topic, json.dumps(value), wait=wait)

    def wait_published(self, mids: Iterable[int], timeout: float = 30.0) -> None:
        wanted = set(mids)

        def done() -> bool:
            with self._lock:
                return wanted <= self._acknowledged
        wait_for(done, timeout=timeout, what=f"the broker acknowledging {len(wanted)} publishes")

    # --- what arrived --------------------------------------------------------------------------

    def messages(self, topic: str | None = None) -> list[Received]:
        with self._lock:
            return [m for m in self._received if topic is None or m.topic == topic]

    def wait_for(self, predicate: Callable[[Received], bool], *, count: int = 1, timeout: float = 15.0,
                 what: str = "messages") -> list[Received]:
        """The recorded messages matching `predicate`, once there are at least `count` of them."""
        def check() -> list[Received] | None:
            found = [m for m in self.messages() if predicate(m)]
            return found if len(found) >= count else None

        def seen() -> str:
            return "\n".join(f"  {m.topic}: {m.payload[:200]!r}" for m in self.messages()[-20:])
        return wait_for(check, timeout=timeout, what=f"{count} {what}", detail=seen)

    def wait_json(self, topic: str, predicate: Callable[[Any], bool] = lambda _: True, *, count: int = 1,
                  timeout: float = 15.0, what: str | None = None) -> Any:
        """The JSON body of the `count`-th message on `topic` whose body matches `predicate`."""
        found = self.wait_for(lambda m: m.topic == topic and predicate(m.json()), count=count, timeout=timeout,
                              what=what or f"messages on {topic}")
        return found[count - 1].json()

    def close(self, *, forget: bool = True) -> None:
        """Disconnect; for a persistent client `forget` also ends its session on the broker."""
        self._client.loop_stop()
        self._client.disconnect()
        close_wakeup_sockets(self._client)
        if self._persistent and forget:
            forget_session(self._client.host, self._client.port, self.client_id)


def retained(host: str, port: int, topic_filter: str, **options: Any) -> dict[str, bytes]:
    """Every retained message a client subscribing to `topic_filter` now gets: topic -> payload.

    Known to be all of them without waiting "long enough": a retained marker of our own is
    subscribed to after the filter, and the broker sends a client the retained messages of its
    subscriptions in order, so once the marker is in, the filter's messages are too.
    """
    marker = f"test/marker/{uuid.uuid4().hex}"
    client = TestClient(host, port, [topic_filter], **options)
    try:
        client.publish(marker, b"1", retain=True)
        client._client.subscribe(marker, qos=1)
        client.wait_for(lambda m: m.topic == marker, what=f"the marker after the retained messages of {topic_filter}")
        return {m.topic: m.payload for m in client.messages() if m.retain and m.topic != marker and m.payload}
    finally:
        client.publish(marker, b"", retain=True)
        client.close()


def forget_session(host: str, port: int, client_id: str) -> None:
    """End a persistent session by connecting once with a clean session under its client id."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    try:
        client.connect(host, port)
        client.loop_start()
        connected.wait(5)
        client.disconnect()
        client.loop_stop()
    except OSError:
        pass  # the broker is gone, and the session with it
    finally:
        close_wakeup_sockets(client)

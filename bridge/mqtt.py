"""The broker connection: the only module that imports aiomqtt.

`MqttSession.run()` connects, subscribes, hands each message to the intake callback and
reconnects with capped, jittered backoff for as long as it lives; it never exits on a broker
outage. Publishes made while the broker is away wait in a bounded queue and go out after the
reconnect, so a delivery report is not lost to a broker restart.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt

from bridge.config import MqttSettings
from bridge.errors import BrokerUnavailable
from bridge.events import InboundMessage

log = logging.getLogger(__name__)

RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
#: Publishes held while disconnected; past it `publish` waits, pushing back on the producers.
MAX_PENDING_PUBLISHES = 10_000


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


MessageHandler = Callable[[InboundMessage], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]


class MqttSession:
    def __init__(self, settings: MqttSettings, *, subscriptions: list[str], on_message: MessageHandler,
                 on_connect: ConnectHandler | None = None, will: Publication | None = None) -> None:
        self._settings = settings
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connect = on_connect
        self._will = will
        self._pending: collections.deque[Publication] = collections.deque()
        self._pending_changed = asyncio.Condition()
        self._current: aiomqtt.Client | None = None
        self.connected = asyncio.Event()

    async def set_subscriptions(self, subscriptions: list[str]) -> None:
        """Change what we subscribe to: applied now when connected, and on every reconnect."""
        old, self._subscriptions = self._subscriptions, subscriptions
        client = self._current
        if client is None:
            return
        for topic_filter in subscriptions:
            if topic_filter not in old:
                await client.subscribe(topic_filter, qos=1)
        for topic_filter in old:
            if topic_filter not in subscriptions:
                await client.unsubscribe(topic_filter)

    async def publish(self, publication: Publication) -> None:
        """Queue a publish; it goes out now, or after the next reconnect."""
        async with self._pending_changed:
            await self._pending_changed.wait_for(lambda: len(self._pending) < MAX_PENDING_PUBLISHES)
            self._pending.append(publication)
            self._pending_changed.notify_all()

    async def flush(self) -> None:
        """Wait until every queued publish has reached the broker."""
        async with self._pending_changed:
            await self._pending_changed.wait_for(lambda: not self._pending)

    async def run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        settings = self._settings
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except* aiomqtt.MqttError as group:
                log.warning("MQTT broker %s:%d: %s; reconnecting in %.1f s",
                            settings.host, settings.port, group.exceptions[0], delay)
            finally:
                self._current = None
                self.connected.clear()
            if time.monotonic() - started > RECONNECT_MAX_SECONDS:
                delay = RECONNECT_MIN_SECONDS  # it was a working connection, not a failing retry
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _new_client(self) -> aiomqtt.Client:
        s = self._settings
        will = None
        if self._will is not None:
            w = self._will
            will = aiomqtt.Will(w.topic, w.payload, qos=w.qos, retain=w.retain)
        return aiomqtt.Client(
            s.host, s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            identifier=s.client_id,
            keepalive=s.keepalive,
            will=will,
            timeout=10,
        )

    async def _session(self) -> None:
        async with self._new_client() as client:
            for topic_filter in self._subscriptions:
                await client.subscribe(topic_filter, qos=1)
            log.info("MQTT: connected to the broker at %s:%d", self._settings.host, self._settings.port)
            self._current = client
            self.connected.set()
            if self._on_connect is not None:
                await self._on_connect()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._drain(client), name="mqtt-publish")
                async for message in client.messages:
                    payload = message.payload
                    data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                    await self._on_message(InboundMessage(
                        topic=message.topic.value, payload=data, retain=message.retain,
                        received_at=time.time(),
                    ))
                raise aiomqtt.MqttError("the broker closed the connection")

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            async with self._pending_changed:
                await self._pending_changed.wait_for(lambda: bool(self._pending))
                item = self._pending[0]
            # Removed only once the broker has it: a publish cut off by a disconnect is retried.
            await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
            async with self._pending_changed:
                if self._pending and self._pending[0] is item:
                    self._pending.popleft()
                self._pending_changed.notify_all()


async def request_once(settings: MqttSettings, *, client_id: str, request: Publication, response_topic: str,
                       accept: Callable[[bytes], bool], wait_seconds: float) -> bytes | None:
    """Publish `request` and return the first payload on `response_topic` that `accept` takes.

    For short-lived clients such as the `health` command: `client_id` must differ from the
    bridge's own, or the broker would disconnect the bridge. Returns None when no accepted
    answer came within `wait_seconds`; raises `BrokerUnavailable` when the broker cannot be
    reached (or does not answer the connect) in that time.
    """
    client = aiomqtt.Client(
        settings.host, settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=client_id,
        keepalive=settings.keepalive,
        timeout=wait_seconds,
    )
    where = f"the MQTT broker at {settings.host}:{settings.port}"
    connected = False
    try:
        async with asyncio.timeout(wait_seconds), client:
            connected = True
            await client.subscribe(response_topic, qos=1)
            await client.publish(request.topic, request.payload, qos=request.qos, retain=request.retain)
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                if accept(data):
                    return data
    except TimeoutError:
        if not connected:
            raise BrokerUnavailable(f"{where} did not accept a connection within {wait_seconds:g} s") from None
        return None
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(f"cannot reach {where}: {exc}") from None
    return None

"""The bridge's own broker session.

`MqttSession.run()` connects, subscribes, hands each message to the intake callback and
reconnects with capped, jittered backoff for as long as it lives; it never exits on a broker
outage. Publishes made while the broker is away wait in a bounded queue and go out after the
reconnect, so a delivery report is not lost to a broker restart.

The session is persistent (fixed client id, clean session off) and QoS 1 messages are
acknowledged by the intake, through the `Acknowledge` callback each message comes with, only
once they are safely stored: while the bridge is down or busy, the broker keeps them.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Awaitable, Callable

import aiomqtt

from bridge.config.models import MqttSettings
from bridge.events import Acknowledge, InboundMessage, Publication
from bridge.links import Link
from bridge.mqtt.client import build_client, describe_error
from bridge.mqtt.receiver import Receiver
from bridge.tasks import Backoff

log = logging.getLogger(__name__)

RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
#: Publishes held while disconnected; past it `publish` waits, pushing back on the producers.
MAX_PENDING_PUBLISHES = 10_000


MessageHandler = Callable[[InboundMessage, Acknowledge], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]


class MqttSession:
    def __init__(self, settings: MqttSettings, *, subscriptions: list[str], will: Publication | None = None,
                 connection: Link | None = None, backoff: Backoff | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._backoff = backoff or Backoff(first=RECONNECT_MIN_SECONDS, cap=RECONNECT_MAX_SECONDS)
        self._monotonic = monotonic
        #: Up while connected to the broker, with the last error: for the status page and metrics.
        self.connection = connection or Link("broker")
        self._subscriptions = subscriptions
        self._on_message: MessageHandler | None = None
        self._on_connect: ConnectHandler | None = None
        self._will = will
        self._pending: collections.deque[tuple[Publication, asyncio.Future[None]]] = collections.deque()
        self._pending_changed = asyncio.Condition()
        self._current: aiomqtt.Client | None = None
        self._generation = 0
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

    async def publish(self, publication: Publication) -> asyncio.Future[None]:
        """Queue a publish; it goes out now, or after the next reconnect.

        The returned future is done once the broker has acknowledged it (QoS 1); a publish cut
        off by a disconnect is sent again, so the broker may get it twice, never zero times.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with self._pending_changed:
            await self._pending_changed.wait_for(lambda: len(self._pending) < MAX_PENDING_PUBLISHES)
            self._pending.append((publication, done))
            self._pending_changed.notify_all()
        return done

    async def flush(self) -> None:
        """Wait until every queued publish has reached the broker."""
        async with self._pending_changed:
            await self._pending_changed.wait_for(lambda: not self._pending)

    async def run(self, *, on_message: MessageHandler, on_connect: ConnectHandler | None = None) -> None:
        """Connect and stay connected; each message goes to `on_message` with its `Acknowledge`,
        each (re)connect first to `on_connect`. The handlers are given at start, not at build, so
        the stages they reach may be built after the session that feeds them."""
        self._on_message, self._on_connect = on_message, on_connect
        backoff = self._backoff
        settings = self._settings
        while True:
            started = self._monotonic()
            try:
                await self._session()
            except* (aiomqtt.MqttError, OSError) as group:
                error = describe_error(group.exceptions[0])
                self.connection.down(error)
                log.warning("MQTT: broker %s:%d: %s; reconnecting in %.1f s",
                            settings.host, settings.port, error, backoff.delay)
            finally:
                self._current = None
                self.connected.clear()
            if self._monotonic() - started > RECONNECT_MAX_SECONDS:
                backoff.reset()  # it was a working connection, not a failing retry
            await backoff.wait()

    async def _session(self) -> None:
        client = build_client(self._settings, client_id=self._settings.client_id, will=self._will, persistent=True)
        receiver = Receiver(client)
        self._generation += 1
        generation = self._generation
        async with client:
            for topic_filter in self._subscriptions:
                await client.subscribe(topic_filter, qos=1)
            log.info("MQTT: connected to the broker at %s:%d", self._settings.host, self._settings.port)
            self._current = client
            self.connected.set()
            self.connection.up()
            if self._on_connect is not None:
                await self._on_connect()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._drain(client), name="mqtt-publish")
                group.create_task(self._dispatch(receiver, generation), name="mqtt-dispatch")
                # Messages come through `receiver`, so aiomqtt's iterator yields none: it only
                # tells us, by raising MqttError, that the connection is gone.
                async for _ in client.messages:
                    pass
                raise aiomqtt.MqttError("the broker closed the connection")

    async def _dispatch(self, receiver: Receiver, generation: int) -> None:
        """Hand each received message to `on_message`, one at a time, in arrival order."""
        while True:
            await receiver.arrived.wait()
            receiver.arrived.clear()
            while receiver.inbox:
                message, mid = receiver.inbox.popleft()
                assert self._on_message is not None  # set by run()
                await self._on_message(message, functools.partial(self._ack, receiver, generation, mid, message.qos))

    def _ack(self, receiver: Receiver, generation: int, mid: int, qos: int) -> bool:
        if qos == 0:
            return True
        if generation != self._generation or not self.connected.is_set():
            # A PUBACK belongs to the connection that got the message; the broker redelivers it.
            log.debug("message %d not acknowledged: its connection is gone", mid)
            return False
        return receiver.ack(mid, qos)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            async with self._pending_changed:
                await self._pending_changed.wait_for(lambda: bool(self._pending))
                item, done = self._pending[0]
            # Removed only once the broker has it: a publish cut off by a disconnect is retried.
            await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
            async with self._pending_changed:
                if self._pending and self._pending[0][0] is item:
                    self._pending.popleft()
                if not done.done():
                    done.set_result(None)
                self._pending_changed.notify_all()

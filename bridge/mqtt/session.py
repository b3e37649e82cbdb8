"""The broker connection: the only module that imports aiomqtt.

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
import contextlib
import functools
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable

import aiomqtt
import paho.mqtt.client as paho

from bridge.config.models import MqttSettings, TlsSettings
from bridge.errors import BrokerUnavailable
from bridge.events import Acknowledge, InboundMessage, Publication
from bridge.links import Link

log = logging.getLogger(__name__)

RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
#: Publishes held while disconnected; past it `publish` waits, pushing back on the producers.
MAX_PENDING_PUBLISHES = 10_000


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.cert_file is not None and settings.key_file is not None:
        context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
    return context


def describe_error(exc: BaseException) -> str:
    """One line a user can act on, for the errors a broker connection really meets."""
    text = str(exc)
    lowered = text.lower()
    if "certificate verify failed" in lowered:
        return f"the broker's TLS certificate is not trusted ({text}); check mqtt.tls.ca_file"
    if "bad user name or password" in lowered or "not authorized" in lowered:
        return f"the broker refused the login ({text}); check mqtt.username and mqtt.password"
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in lowered:
        return "connection refused: is the broker running and listening on that port?"
    return text or type(exc).__name__


MessageHandler = Callable[[InboundMessage, Acknowledge], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]


class MqttSession:
    def __init__(self, settings: MqttSettings, *, subscriptions: list[str], on_message: MessageHandler,
                 on_connect: ConnectHandler | None = None, will: Publication | None = None,
                 connection: Link | None = None) -> None:
        self._settings = settings
        #: Up while connected to the broker, with the last error: for the status page and metrics.
        self.connection = connection or Link("broker")
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connect = on_connect
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

    async def run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        settings = self._settings
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except* (aiomqtt.MqttError, OSError) as group:
                error = describe_error(group.exceptions[0])
                self.connection.down(error)
                log.warning("MQTT: broker %s:%d: %s; reconnecting in %.1f s",
                            settings.host, settings.port, error, delay)
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
            tls_context=tls_context(s.tls) if s.tls is not None else None,
            tls_insecure=s.tls.insecure if s.tls is not None else None,
            # Persistent session: while we are away the broker queues our QoS 1 messages, and it
            # redelivers the ones we received but had not acknowledged.
            clean_session=False,
        )

    async def _session(self) -> None:
        client = self._new_client()
        receiver = _Receiver(client)
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

    async def _dispatch(self, receiver: _Receiver, generation: int) -> None:
        """Hand each received message to `on_message`, one at a time, in arrival order."""
        while True:
            await receiver.arrived.wait()
            receiver.arrived.clear()
            while receiver.inbox:
                message, mid = receiver.inbox.popleft()
                await self._on_message(message, functools.partial(self._ack, receiver, generation, mid, message.qos))

    def _ack(self, receiver: _Receiver, generation: int, mid: int, qos: int) -> bool:
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


class _Receiver:
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


def _one_shot_client(settings: MqttSettings, client_id: str, wait_seconds: float) -> aiomqtt.Client:
    """A short-lived client with the bridge's credentials and TLS, for the one-shot commands."""
    return aiomqtt.Client(
        settings.host, settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=client_id,
        keepalive=settings.keepalive,
        timeout=wait_seconds,
        tls_context=tls_context(settings.tls) if settings.tls is not None else None,
        tls_insecure=settings.tls.insecure if settings.tls is not None else None,
    )


async def request_once(settings: MqttSettings, *, client_id: str, request: Publication, response_topic: str,
                       accept: Callable[[bytes], bool], wait_seconds: float) -> bytes | None:
    """Publish `request` and return the first payload on `response_topic` that `accept` takes.

    For short-lived clients such as the `health` command: `client_id` must differ from the
    bridge's own, or the broker would disconnect the bridge. Returns None when no accepted
    answer came within `wait_seconds`; raises `BrokerUnavailable` when the broker cannot be
    reached (or does not answer the connect) in that time.
    """
    client = _one_shot_client(settings, client_id, wait_seconds)
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


async def read_retained(settings: MqttSettings, *, client_id: str, topics: list[str],
                        wait_seconds: float, settle_seconds: float = 0.5) -> dict[str, bytes]:
    """Connect with the bridge's credentials and collect the retained messages of `topics`.

    For the `doctor` command: the connection itself proves the broker is reachable and takes our
    login; the retained topics say whether a bridge is running and what it last reported. A broker
    sends retained messages right after the subscription, so `settle_seconds` of silence ends the
    wait. Raises `BrokerUnavailable` with a sentence from `describe_error`.
    """
    client = _one_shot_client(settings, client_id, wait_seconds)
    found: dict[str, bytes] = {}
    connected = False
    try:
        async with asyncio.timeout(wait_seconds), client:
            connected = True
            for topic in topics:
                await client.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):
                while True:
                    async with asyncio.timeout(settle_seconds):
                        message = await anext(aiter(client.messages))
                    if message.retain:
                        payload = message.payload
                        found[message.topic.value] = payload if isinstance(payload, bytes) else str(payload).encode()
    except TimeoutError:
        if connected:  # retained messages kept coming until the deadline: what arrived is enough
            return found
        raise BrokerUnavailable(
            f"the MQTT broker at {settings.host}:{settings.port} did not accept a connection within "
            f"{wait_seconds:g} s") from None
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(describe_error(exc)) from None
    except OSError as exc:
        raise BrokerUnavailable(describe_error(exc)) from None
    return found

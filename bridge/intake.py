"""MQTT messages -> the outbox, in batches, acknowledged to the broker only after the commit.

Each message is planned (pipeline), given its idempotency key, and stored together with every
message that arrived while the previous commit was running: a burst costs one transaction and
one fsync, not one per message. Then, in arrival order, each message's PUBACK is sent. A message
that is a duplicate of one already stored is acknowledged and dropped with a log line.

Idempotency keys (see `IdempotencyKey`): a payload `id` identifies the event together with its
topic; without one, the key is a hash of topic and payload, and only counts for a redelivery
(DUP) of a copy whose acknowledgement we have not recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping

from bridge.errors import EventRejected, OutboxError
from bridge.events import Acknowledge, Delivery, DeliveryPolicy, DeliveryReport, InboundMessage, Queued
from bridge.outbox import Outbox, OutboxRunner
from bridge.outbox_records import Accepted, Arrival, Duplicate, IdempotencyKey
from bridge.payloads import DecodedPayload, decode_payload
from bridge.pipeline import Pipeline, producer_event_id
from bridge.throttle import Throttles

log = logging.getLogger(__name__)

#: At most this many messages in one transaction: bounds the time one commit holds the others.
MAX_BATCH = 500
#: Messages received but not yet committed; past it `submit` waits, and so does the MQTT reader.
#: (With QoS 1 the broker's in-flight window, mosquitto's max_inflight_messages = 20, binds first.)
MAX_WAITING = 2_000
#: Pause before trying a failed commit again; the messages stay unacknowledged meanwhile.
COMMIT_RETRY_SECONDS = 1.0


def idempotency_key(message: InboundMessage, *, max_payload_bytes: int,
                    decoded: DecodedPayload | EventRejected | None = None) -> IdempotencyKey:
    if decoded is None:
        try:
            decoded = decode_payload(message.payload, max_bytes=max_payload_bytes)
        except EventRejected as exc:
            decoded = exc
    # A payload the pipeline rejects has no producer id: its key is its content.
    given = producer_event_id(decoded) if isinstance(decoded, DecodedPayload) else None
    if given is not None:
        return IdempotencyKey("id:" + _digest(message.topic, given.encode()), by_content=False)
    return IdempotencyKey("content:" + _digest(message.topic, message.payload), by_content=True)


def _digest(topic: str, data: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + data).hexdigest()


class Intake:
    def __init__(self, *, pipeline: Pipeline, store: OutboxRunner, policies: Mapping[str | None, DeliveryPolicy],
                 max_payload_bytes: int, on_stored: Callable[[], None], throttles: Throttles | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._pipeline = pipeline
        self._throttles = throttles or Throttles({}, max_payload_bytes=max_payload_bytes)
        self._store = store
        self._policies = policies
        self._max_payload_bytes = max_payload_bytes
        self._on_stored = on_stored
        self._clock = clock
        self._waiting: list[tuple[InboundMessage, Acknowledge]] = []
        #: Set while `_waiting` holds messages: what `run` waits for.
        self._arrived = asyncio.Event()
        #: For the slow paths: room in `_waiting`, and `close` waiting for the last batch.
        self._changed = asyncio.Condition()
        self._busy = False
        self._closing = False
        #: `events` rows acknowledged since the last commit; recorded with the next one.
        self._acknowledged: list[int] = []

    def use(self, pipeline: Pipeline, policies: Mapping[str | None, DeliveryPolicy],
            throttles: Throttles | None = None) -> None:
        """Plan later messages with a reloaded config; those already taken keep the old one."""
        self._pipeline, self._policies = pipeline, policies
        if throttles is not None:
            self._throttles = throttles

    async def accept_direct(self, outcome: Delivery | DeliveryReport) -> DeliveryReport | None:
        """Store one direct send (the `send` request, the HTTP door); returns its rejection, if any.

        Stored at once rather than batched: the caller is waiting to answer. A producer's `id`
        seen again within the idempotency window is the same event, as for MQTT messages.
        """
        event_id = outcome.event_id if isinstance(outcome, Delivery) else outcome.id
        topic = outcome.source_topic if isinstance(outcome, Delivery) else outcome.topic
        queued: Queued | DeliveryReport = (
            Queued(outcome, self._policies[None]) if isinstance(outcome, Delivery) else outcome)
        arrival = Arrival(key=IdempotencyKey("direct:" + _digest(topic, event_id.encode()), by_content=False),
                          dup=False, needs_ack=False, outcomes=(queued,), received_at=self._clock())
        [result] = await self._store.run(Outbox.accept, [arrival], now=self._clock())
        if isinstance(result, Duplicate):
            log.info("Notification suppressed. Reason: event %s was already accepted: %s", event_id, result.reason)
        self._on_stored()
        if isinstance(outcome, DeliveryReport):
            return outcome
        return result.refused[0] if isinstance(result, Accepted) and result.refused else None

    async def submit(self, message: InboundMessage, ack: Acknowledge) -> None:
        """Take one message; `ack` is called once it is stored. Not acknowledged after `close()`."""
        if len(self._waiting) >= MAX_WAITING and not self._closing:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._waiting) < MAX_WAITING or self._closing)
        if self._closing:
            log.debug("shutting down: %s left to the broker to deliver again", message.topic)
            return
        # Called for every message of a burst: no lock to take, so no await.
        self._waiting.append((message, ack))
        self._arrived.set()

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            async with self._changed:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                if not self._waiting:
                    self._arrived.clear()
                self._busy = True
                self._changed.notify_all()
            try:
                await self._store_batch(batch)
            finally:
                async with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    async def close(self) -> None:
        """Stop taking messages; store and acknowledge those already taken."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
            await self._changed.wait_for(lambda: not self._waiting and not self._busy)
        acknowledged, self._acknowledged = self._acknowledged, []
        await self._store.run(Outbox.record_acks, acknowledged)

    async def _store_batch(self, batch: list[tuple[InboundMessage, Acknowledge]]) -> None:
        arrivals = [self._arrival(message) for message, _ in batch]
        while True:
            try:
                results = await self._store.run(Outbox.accept, arrivals, now=self._clock(),
                                                acknowledged=self._acknowledged)
                break
            except OutboxError as exc:
                log.error("%s; %d messages stay unacknowledged, retrying in %.0f s",
                          exc, len(batch), COMMIT_RETRY_SECONDS)
                await asyncio.sleep(COMMIT_RETRY_SECONDS)
        self._acknowledged = []
        log.debug("stored %d messages in one commit", len(batch))
        stored = False
        for (message, ack), arrival, result in zip(batch, arrivals, results, strict=True):
            if isinstance(result, Duplicate):
                log.info("Notification suppressed. Reason: %s on %s is a duplicate of event %s: %s",
                         "message" if arrival.key.by_content else "event", message.topic, result.event_id,
                         result.reason)
            sent = ack()
            if isinstance(result, Accepted) and result.rows:
                stored = True
                if sent and arrival.needs_ack:
                    self._acknowledged.append(result.event_row)
        if stored:
            self._on_stored()

    def _arrival(self, message: InboundMessage) -> Arrival:
        outcomes: list[Queued | DeliveryReport] = []
        decoded = self._pipeline.decode(message)  # once, for the plan and for the idempotency key
        try:
            planned = self._pipeline.plan(message, decoded)
        except Exception:  # a bug must not stop the intake; logged and acknowledged, as a redelivery would fail too
            log.exception("planning the message on %s failed", message.topic)
            planned = []
        for outcome in planned:
            if isinstance(outcome, Delivery):
                try:
                    mark = self._throttles.mark(outcome.route, message, decoded) if self._throttles else None
                except EventRejected as exc:
                    outcomes.append(DeliveryReport.rejected(event_id=outcome.event_id, route=outcome.route,
                                                            topic=outcome.source_topic, room_key=outcome.room_key,
                                                            error=str(exc)))
                    continue
                outcomes.append(Queued(outcome, self._policies[outcome.route], mark))
            else:
                log.info("rejected %s from %s: %s", outcome.id, outcome.topic, outcome.error)
                outcomes.append(outcome)
        return Arrival(
            key=idempotency_key(message, max_payload_bytes=self._max_payload_bytes, decoded=decoded),
            dup=message.dup, needs_ack=message.qos > 0, outcomes=tuple(outcomes), received_at=message.received_at,
        )

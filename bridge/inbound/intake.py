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
from collections.abc import Callable

from bridge.errors import OutboxError
from bridge.events import Acknowledge, DeliveryReport, InboundMessage, Planned, Queued, Rejected
from bridge.inbound.kept import KeptMessages
from bridge.metrics import Metrics
from bridge.outbox import admission
from bridge.outbox.records import Accepted, Arrival, Duplicate, IdempotencyKey
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.pipeline import plan as pipeline
from bridge.pipeline.plan import Plan
from bridge.pipeline.runtime import LiveRuntime
from bridge.topics import EVENT, TopicKind

log = logging.getLogger(__name__)

#: At most this many messages in one transaction: bounds the time one commit holds the others.
MAX_BATCH = 500
#: Messages received but not yet committed; past it `submit` waits, and so does the MQTT reader.
#: (With QoS 1 the broker's in-flight window, mosquitto's max_inflight_messages = 20, binds first.)
MAX_WAITING = 2_000
#: Pause before trying a failed commit again; the messages stay unacknowledged meanwhile.
COMMIT_RETRY_SECONDS = 1.0


def idempotency_key(topic: str, payload: bytes, producer_id: str | None) -> IdempotencyKey:
    """`producer_id`: the payload's `id` as the pipeline found it (None: none, or not decodable)."""
    if producer_id is not None:
        return IdempotencyKey("id:" + _digest(topic, producer_id.encode()), by_content=False)
    return IdempotencyKey("content:" + _digest(topic, payload), by_content=True)


def _digest(topic: str, data: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + data).hexdigest()


class Intake:
    def __init__(self, *, live: LiveRuntime, store: OutboxRunner, on_stored: Callable[[], None],
                 clock: Callable[[], float] = time.time, metrics: Metrics | None = None) -> None:
        #: Read at each message: a reload applies to the messages taken after it.
        self._live = live
        #: The latest message of each topic a route attaches from (a Frigate snapshot).
        self._kept = KeptMessages()
        self._metrics = metrics or Metrics()
        self._store = store
        self._on_stored = on_stored
        self._clock = clock
        self._waiting: list[tuple[InboundMessage, Acknowledge, TopicKind]] = []
        #: Set while `_waiting` holds messages: what `run` waits for.
        self._arrived = asyncio.Event()
        #: For the slow paths: room in `_waiting`, and `close` waiting for the last batch.
        self._changed = asyncio.Condition()
        self._busy = False
        self._closing = False
        #: `events` rows acknowledged since the last commit; recorded with the next one.
        self._acknowledged: list[int] = []

    async def accept_direct(self, outcome: Planned) -> DeliveryReport | None:
        """Store one direct send (the `send` request, the HTTP door); returns its refusal, if any.

        Stored at once rather than batched: the caller is waiting to answer. A producer's `id`
        seen again within the idempotency window is the same event, as for MQTT messages. The
        refusal is the report the target ended with: rejected by the pipeline or, when the
        queue is full, by the outbox (`queue_full`).
        """
        event_id, topic = outcome.event_id, outcome.topic
        now = self._clock()
        arrival = Arrival(key=IdempotencyKey("direct:" + _digest(topic, event_id.encode()), by_content=False),
                          dup=False, needs_ack=False, outcomes=(outcome,), received_at=now)
        [result] = await self._store.run(Outbox.accept, [arrival], now=now)
        self._count(arrival, result)
        if isinstance(result, Duplicate):
            log.info("Notification suppressed. Reason: event %s was already accepted: %s", event_id,
                     admission.duplicate_reason(result, now))
        self._on_stored()
        if isinstance(result, Accepted) and result.refused:
            return result.refused[0]
        return outcome.report(now) if isinstance(outcome, Rejected) else None  # a duplicate is refused again

    async def submit(self, message: InboundMessage, ack: Acknowledge, kind: TopicKind = EVENT) -> None:
        """Take one message (`kind`: its topic as the dispatcher classified it); `ack` is called once
        it is stored. Not acknowledged after `close()`."""
        if len(self._waiting) >= MAX_WAITING and not self._closing:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._waiting) < MAX_WAITING or self._closing)
        if self._closing:
            log.debug("shutting down: %s left to the broker to deliver again", message.topic)
            return
        # Called for every message of a burst: no lock to take, so no await.
        self._waiting.append((message, ack, kind))
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

    async def _store_batch(self, batch: list[tuple[InboundMessage, Acknowledge, TopicKind]]) -> None:
        arrivals = [self._arrival(message, kind) for message, _, kind in batch]
        while True:
            try:
                now = self._clock()
                results = await self._store.run(Outbox.accept, arrivals, now=now, acknowledged=self._acknowledged)
                break
            except OutboxError as exc:
                log.error("%s; %d messages stay unacknowledged, retrying in %.0f s",
                          exc, len(batch), COMMIT_RETRY_SECONDS)
                await asyncio.sleep(COMMIT_RETRY_SECONDS)
        self._acknowledged = []
        log.debug("stored %d messages in one commit", len(batch))
        stored = False
        for (message, ack, _), arrival, result in zip(batch, arrivals, results, strict=True):
            if isinstance(result, Duplicate):
                log.info("Notification suppressed. Reason: %s on %s is a duplicate of event %s: %s",
                         "message" if arrival.key.by_content else "event", message.topic, result.event_id,
                         admission.duplicate_reason(result, now))
            self._count(arrival, result)
            sent = ack()
            if isinstance(result, Accepted) and (result.rows or arrival.silences):
                stored = True  # deliveries to send, or a silence timer armed or ended to look at
                if sent and arrival.needs_ack and result.event_row:
                    self._acknowledged.append(result.event_row)
        if stored:
            self._on_stored()

    def _arrival(self, message: InboundMessage, kind: TopicKind) -> Arrival:
        try:
            self._kept.offer(self._live.current, message)
            planned = pipeline.plan(self._live.current, message, kind, self._kept.view)
        except Exception:  # a bug must not stop the intake; logged and acknowledged, as a redelivery would fail too
            log.exception("planning the message on %s failed", message.topic)
            planned = Plan(())
        for outcome in planned.outcomes:
            if isinstance(outcome, Rejected):
                log.info("rejected %s from %s: %s", outcome.event_id, outcome.topic, outcome.error)
        return Arrival(
            key=idempotency_key(message.topic, message.payload, planned.producer_id),
            dup=message.dup, needs_ack=message.qos > 0, outcomes=planned.outcomes, received_at=message.received_at,
            observations=planned.observations, silences=planned.silences,
        )

    def _count(self, arrival: Arrival, result: Accepted | Duplicate) -> None:
        """Events received once per route (not per room), and rejections by reason class; a duplicate
        is neither."""
        if isinstance(result, Duplicate):
            return
        for route in dict.fromkeys(o.delivery.route if isinstance(o, Queued) else o.route for o in arrival.outcomes):
            self._metrics.received(route)
        for report in result.refused:
            if report.status == "rejected":
                self._metrics.rejected(report.reason or "bad_input")

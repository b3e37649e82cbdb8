"""One MQTT message -> the deliveries it asks for, or the reasons it cannot be delivered (pure).

route -> decode -> filter (`when`) -> render, fanned out to each room of each matching route.
Every target (event x room) ends up as exactly one `Delivery` or one rejected `DeliveryReport`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from bridge.errors import EventRejected
from bridge.events import Delivery, DeliveryReport, InboundMessage, new_event_id
from bridge.payloads import DecodedPayload, decode_payload
from bridge.routing import RouteMatch, Router
from bridge.topics import Topics

log = logging.getLogger(__name__)

Outcome = Delivery | DeliveryReport


class Pipeline:
    def __init__(self, *, router: Router, topics: Topics, room_keys: Collection[str], max_payload_bytes: int) -> None:
        self._router = router
        self._topics = topics
        self._room_keys = room_keys
        self._max_payload_bytes = max_payload_bytes

    def plan(self, message: InboundMessage) -> list[Outcome]:
        room_key = self._topics.direct_send_key(message.topic)
        if room_key is not None:
            return [self._direct_send(message, room_key)]
        if message.topic.startswith(self._topics.base + "/"):
            # Our own reports and state: a route with a broad filter such as `#` must not feed them back.
            return []
        matches = self._router.match(message.topic)
        if message.retain:
            skipped = [m.route.name for m in matches if not m.route.retained]
            if skipped:
                log.debug("retained message on %s skipped by routes %s", message.topic, skipped)
            matches = [m for m in matches if m.route.retained]
        if not matches:
            return []
        try:
            payload = decode_payload(message.payload, max_bytes=self._max_payload_bytes)
        except EventRejected as exc:
            event_id = new_event_id()
            return [
                DeliveryReport.rejected(event_id=event_id, route=m.route.name, topic=message.topic,
                                        room_key=key, error=str(exc))
                for m in matches for key in m.route.rooms
            ]
        event_id = _event_id(payload)
        outcomes: list[Outcome] = []
        for match in matches:
            outcomes.extend(self._render(message, payload, event_id, match))
        return outcomes

    def _render(self, message: InboundMessage, payload: DecodedPayload, event_id: str,
                match: RouteMatch) -> list[Outcome]:
        route = match.route
        context: dict[str, Any] = {
            **match.match.named,
            "payload": payload.value,
            "raw": payload.raw,
            "topic": message.topic,
            "wildcards": list(match.match.wildcards),
        }
        try:
            if route.when is not None and not route.when.holds(context):
                log.debug("route %s: 'when' is false for %s", route.name, message.topic)
                return []
            text = route.template.render(context)
        except EventRejected as exc:
            return [
                DeliveryReport.rejected(event_id=event_id, route=route.name, topic=message.topic,
                                        room_key=key, error=f"route {route.name!r}: {exc}")
                for key in route.rooms
            ]
        return [
            Delivery(event_id, route.name, message.topic, key, text, message.received_at)
            for key in route.rooms
        ]

    def _direct_send(self, message: InboundMessage, room_key: str) -> Outcome:
        def reject(error: str, event_id: str | None = None) -> DeliveryReport:
            return DeliveryReport.rejected(event_id=event_id or new_event_id(), route=None,
                                           topic=message.topic, room_key=room_key, error=error)

        try:
            payload = decode_payload(message.payload, max_bytes=self._max_payload_bytes)
        except EventRejected as exc:
            return reject(str(exc))
        event_id = _event_id(payload)
        if room_key not in self._room_keys:
            known = ", ".join(sorted(self._room_keys)) or "none are configured"
            return reject(f"unknown room key {room_key!r} (known: {known})", event_id)
        if isinstance(payload.value, dict):
            text = payload.value.get("text")
            if not isinstance(text, str):
                return reject("a JSON direct send needs a \"text\" field holding a string", event_id)
        else:
            text = payload.raw
        if not text.strip():
            return reject("the message is empty", event_id)
        return Delivery(event_id, None, message.topic, room_key, text, message.received_at)


def producer_event_id(payload: DecodedPayload) -> str | None:
    """The producer's `id` field when it gave one: it names the event in reports and deduplicates it."""
    given = payload.field("id")
    if isinstance(given, str) and given.strip():
        return given
    if isinstance(given, int) and not isinstance(given, bool):
        return str(given)
    return None


def _event_id(payload: DecodedPayload) -> str:
    """The producer's `id` field when it gave one (so it can match reports), else a new one."""
    return producer_event_id(payload) or new_event_id()

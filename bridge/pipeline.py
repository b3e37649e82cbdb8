"""One MQTT message -> the deliveries it asks for, or the reasons it cannot be delivered (pure).

route -> decode -> filter (`when`) -> render, fanned out to each room of each matching route.
Every target (event x room) ends up as exactly one `Delivery` or one rejected `DeliveryReport`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.attachments import build_attachment
from bridge.config import Config, ContactSettings, RoomSettings
from bridge.errors import EventRejected, PayloadError
from bridge.events import Delivery, DeliveryReport, InboundMessage, RejectReason, new_event_id
from bridge.i18n import texts_for
from bridge.payloads import DecodedPayload, decode_payload
from bridge.routing import Route, RouteMatch, Router, compile_routes
from bridge.templates import MAX_RENDERED_CHARS, TemplateEngine
from bridge.topics import Topics

log = logging.getLogger(__name__)

Outcome = Delivery | DeliveryReport


@dataclass(frozen=True, slots=True)
class RouteTrace:
    """What one matching route made of a message: its `when` verdict and its outcomes."""

    route: Route
    when: bool | None  # None: the route has no `when`, or it could not be evaluated
    outcomes: list[Outcome]


class Pipeline:
    @classmethod
    def from_config(cls, config: Config) -> Pipeline:
        """Compile the config's routes; raises `ConfigError` on template problems."""
        router = Router(compile_routes(config, TemplateEngine(texts_for(config.locale))))
        return cls(router=router, topics=config.topics, rooms=config.rooms, contacts=config.contacts,
                   max_payload_bytes=config.limits.max_payload_bytes,
                   max_attachment_bytes=config.attachments.max_bytes)

    def __init__(self, *, router: Router, topics: Topics, rooms: Mapping[str, RoomSettings],
                 max_payload_bytes: int, contacts: Mapping[str, ContactSettings] | None = None,
                 max_attachment_bytes: int = 10 * 1024 * 1024) -> None:
        self.router = router
        self._topics = topics
        self._rooms = rooms
        self._contacts = contacts or {}
        self._max_payload_bytes = max_payload_bytes
        self._max_attachment_bytes = max_attachment_bytes

    def decode(self, message: InboundMessage) -> DecodedPayload | EventRejected:
        """The payload decoded once, for callers that need it too (the intake's idempotency key)."""
        try:
            return decode_payload(message.payload, max_bytes=self._max_payload_bytes)
        except EventRejected as exc:
            return exc

    def plan(self, message: InboundMessage, decoded: DecodedPayload | EventRejected | None = None) -> list[Outcome]:
        """What `message` turns into; `decoded` is `decode(message)` when the caller already has it."""
        room_key = self._topics.direct_send_key(message.topic)
        if room_key is not None:
            return [self.direct_send_message(message, room_key, decoded)]
        if self._topics.is_own(message.topic):
            # Our own reports and state: a route with a broad filter such as `#` must not feed them back.
            return []
        return [outcome for trace in self.trace(message, decoded) for outcome in trace.outcomes]

    def trace(self, message: InboundMessage,
              decoded: DecodedPayload | EventRejected | None = None) -> list[RouteTrace]:
        """Each route the message matches, with what it made of it (for `plan` and the `render` command)."""
        matches = self.router.match(message.topic)
        if message.retain:
            skipped = [m.route.name for m in matches if not m.route.retained]
            if skipped:
                log.debug("retained message on %s skipped by routes %s", message.topic, skipped)
            matches = [m for m in matches if m.route.retained]
        if not matches:
            return []
        payload = decoded if decoded is not None else self.decode(message)
        event_id = _event_id(payload) if isinstance(payload, DecodedPayload) else new_event_id()
        return [self._render(message, payload, event_id, match) for match in matches]

    def _render(self, message: InboundMessage, payload: DecodedPayload | EventRejected, event_id: str,
                match: RouteMatch) -> RouteTrace:
        route = match.route
        binary = route.attachment is not None and route.attachment.from_payload
        context: dict[str, Any] = {
            **match.match.named,
            "topic": message.topic,
            "wildcards": list(match.match.wildcards),
        }
        holds: bool | None = None
        try:
            if binary:  # the payload is the image or file: no text to decode
                context.update(payload=None, raw="")
            elif isinstance(payload, EventRejected):
                raise payload
            else:
                context.update(payload=payload.value, raw=payload.raw)
            if route.when is not None:
                holds = route.when.holds(context)
                if not holds:
                    log.debug("route %s: 'when' is false for %s", route.name, message.topic)
                    return RouteTrace(route, False, [])
            text = route.template.render(context) if route.template is not None else ""
            attachment = None
            if route.attachment is not None:
                attachment = build_attachment(route.attachment, payload=message.payload, context=context,
                                              max_bytes=self._max_attachment_bytes,
                                              default_name=_file_stem(message.topic))
        except EventRejected as exc:
            error = str(exc) if isinstance(exc, PayloadError) and not binary else f"route {route.name!r}: {exc}"
            return RouteTrace(route, holds, [
                DeliveryReport.rejected(event_id=event_id, route=route.name, topic=message.topic,
                                        room_key=key, error=error)
                for key in route.rooms
            ])
        return RouteTrace(route, holds, [
            Delivery(event_id, route.name, message.topic, key, text, message.received_at, route.mentions, attachment)
            for key in route.rooms
        ])

    def direct_send_message(self, message: InboundMessage, room_key: str,
                            decoded: DecodedPayload | EventRejected | None = None) -> Outcome:
        """A direct send as it arrives: plain text, or JSON `{"text": ..., "id": ..., "mention": [...]}`."""
        payload = decoded if decoded is not None else self.decode(message)
        if isinstance(payload, EventRejected):
            return DeliveryReport.rejected(event_id=new_event_id(), route=None, topic=message.topic,
                                           room_key=room_key, error=str(payload))
        if isinstance(payload.value, dict):
            text: Any = payload.value.get("text")
            if not isinstance(text, str):
                return DeliveryReport.rejected(
                    event_id=_event_id(payload), route=None, topic=message.topic, room_key=room_key,
                    error='a JSON direct send needs a "text" field holding a string')
            mention: Any = payload.value.get("mention", [])
        else:
            text, mention = payload.raw, []
        return self.direct_send(topic=message.topic, room_key=room_key, text=text, mention=mention,
                                event_id=_event_id(payload), received_at=message.received_at)

    def direct_send(self, *, topic: str, room_key: str, text: str, event_id: str, received_at: float,
                    mention: Any = ()) -> Outcome:
        """A text for one room by key, from `<base>/send/<key>`, the `send` request or the HTTP door.

        `mention` is a list of contact keys, as given by the caller (checked here).
        """
        def reject(error: str, reason: RejectReason = "bad_input") -> DeliveryReport:
            return DeliveryReport.rejected(event_id=event_id, route=None, topic=topic, room_key=room_key,
                                           error=error, reason=reason)

        room = self._rooms.get(room_key)
        if room is None:
            known = ", ".join(sorted(self._rooms)) or "none are configured"
            if not room_key:
                return reject(f"no room key: publish to {self._topics.send('<room key>')} (known keys: {known})",
                              "unknown_room")
            return reject(f"unknown room key {room_key!r} (known: {known})", "unknown_room")
        if not room.allow_direct:
            return reject(f"room {room_key!r} does not take direct sends (allow_direct: false)", "direct_not_allowed")
        problem = _text_problem(text) or self._mention_problem(mention)
        if problem:
            return reject(problem)
        return Delivery(event_id, None, topic, room_key, text, received_at, tuple(mention))


    def _mention_problem(self, mention: Any) -> str | None:
        if not isinstance(mention, list | tuple) or not all(isinstance(k, str) for k in mention):
            return '"mention" must be a list of contact keys'
        unknown = [key for key in mention if key not in self._contacts]
        if unknown:
            known = ", ".join(sorted(self._contacts)) or "none are configured"
            return f"unknown contact key {unknown[0]!r} in mention (known: {known})"
        return None


def _text_problem(text: str) -> str | None:
    if not text.strip():
        return "the message is empty"
    if len(text) > MAX_RENDERED_CHARS:
        # The bound a template's output has: a text at most a few parts long (`pacing.max_text_chars`),
        # not a payload-sized flood of parts into one room.
        return f"the text has {len(text):,} characters, more than the {MAX_RENDERED_CHARS:,} a message may have"
    return None


def producer_id(given: Any) -> str | None:
    """A producer's `id` value as an event id: a non-blank string or an integer, else None."""
    if isinstance(given, str) and given.strip():
        return given
    if isinstance(given, int) and not isinstance(given, bool):
        return str(given)
    return None


def producer_event_id(payload: DecodedPayload) -> str | None:
    """The producer's `id` field when it gave one: it names the event in reports and deduplicates it."""
    return producer_id(payload.field("id"))


def event_id_from(given: Any) -> str:
    """The producer's `id` when it gave one (so it can match reports), else a new one."""
    return producer_id(given) or new_event_id()


def _file_stem(topic: str) -> str:
    """`frigate/front/person/snapshot` -> `front-person-snapshot`: a readable attachment name."""
    parts = [p for p in topic.split("/")[1:] or topic.split("/") if p]
    stem = "-".join(parts)[:60]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "attachment"


def _event_id(payload: DecodedPayload) -> str:
    return producer_event_id(payload) or new_event_id()

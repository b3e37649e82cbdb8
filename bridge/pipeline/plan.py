"""One MQTT message and the runtime -> what becomes of each target, as finished values (pure).

route -> decode -> filter (`when`) -> render -> throttle key, fanned out to each room of each
matching route. Every target (event x room) ends up as exactly one `Queued` (the delivery, its
policy and its throttle scope) or one `Rejected` (with the sentence of its report). The payload
is decoded once per message; the producer's `id` found in it names the event and goes with
the plan, for the intake's idempotency key.

A route with `changed` or `for` also says what the event means for its key (`StateMark`): on each
`Queued` when `when` holds, else in `Plan.observations` (the door closing must be remembered too,
and cancels the key's timer). A retained message the route does not act on is observed only.
`fire` renders a `for` timer that has run out from the latest message it kept.

A route with `silence` sends nothing for the message itself: it says it was heard (`SilenceMark`,
in `Plan.silences`), and `bridge.pipeline.watch` renders the silence and "back" messages later.
A route with `batch` marks each `Queued` with its item (`BatchMark`) for the outbox to gather.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import EventRejected, PayloadError
from bridge.events import (
    Attachment,
    Delivery,
    HeldMessage,
    InboundMessage,
    Planned,
    Queued,
    Rejected,
    RejectReason,
    SilenceMark,
    StateMark,
    new_event_id,
)
from bridge.pipeline.attachments import NOTHING_KEPT, NotKeptYet, build_attachment
from bridge.pipeline.payloads import DecodedPayload, decode_payload
from bridge.pipeline.routing import Route, RouteMatch
from bridge.pipeline.runtime import Runtime
from bridge.pipeline.templates import MAX_RENDERED_CHARS
from bridge.topics import TopicKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one message turns into."""

    outcomes: tuple[Planned, ...]
    #: The producer's `id` (a non-blank string or an integer in a JSON object payload); None when
    #: it gave none or the payload cannot be decoded.
    producer_id: str | None = None
    #: What the message says about routes' state per key without a target to carry it (`when`
    #: false, a retained message, a rejection): remembered and acted on all the same.
    observations: tuple[StateMark, ...] = ()
    #: The `silence` routes that heard the message, per key.
    silences: tuple[SilenceMark, ...] = ()


@dataclass(kw_only=True, frozen=True, slots=True)
class RouteTrace:
    """What one matching route made of a message: its `when` verdict and its outcomes."""

    route: Route
    when: bool | None  # None: the route has no `when`, or it could not be evaluated
    outcomes: tuple[Planned, ...]
    #: The route's state for the event's key (`changed`, `for`), when it has one.
    state: StateMark | None = None
    #: A `silence` route heard the message.
    silence: SilenceMark | None = None

    @property
    def observation(self) -> StateMark | None:
        """The state mark no queued target carries."""
        if self.state is None or any(isinstance(o, Queued) for o in self.outcomes):
            return None
        return self.state


@dataclass(frozen=True, slots=True)
class _Payload:
    """The payload decoded once: its value, or the sentence saying why it cannot be decoded."""

    decoded: DecodedPayload | None
    problem: str | None
    #: The event's id, derived here once and carried by every outcome: the producer's `id`, else a new one.
    event_id: str
    #: The producer's `id`, when it gave one: it also makes the idempotency key.
    producer_id: str | None = None

    @classmethod
    def of(cls, message: InboundMessage, runtime: Runtime) -> _Payload:
        try:
            decoded = decode_payload(message.payload, max_bytes=runtime.limits.max_payload_bytes)
        except PayloadError as exc:
            return cls(None, str(exc), new_event_id())
        given = producer_event_id(decoded)
        return cls(decoded, None, given or new_event_id(), given)


def plan(runtime: Runtime, message: InboundMessage, kind: TopicKind | None = None,
         kept: Mapping[str, bytes] = NOTHING_KEPT) -> Plan:
    """What `message` turns into under `runtime`; `kind` as the dispatcher classified its topic;
    `kept`: the latest payload of each topic routes attach from (`image: {topic: ...}`)."""
    kind = kind or runtime.topics.classify(message.topic)
    if kind.room_key is not None:
        payload = _Payload.of(message, runtime)
        return Plan((_direct_send_message(runtime, message, kind.room_key, payload),), payload.producer_id)
    if kind.kind != "event":
        # Our own reports and state: a route with a broad filter such as `#` must not feed them back.
        return Plan(())
    traces, decoded = _traces(runtime, message, kept)
    return Plan(tuple(o for trace in traces for o in trace.outcomes), decoded.producer_id if decoded else None,
                tuple(mark for trace in traces if (mark := trace.observation) is not None),
                tuple(heard for trace in traces if (heard := trace.silence) is not None))


def trace(runtime: Runtime, message: InboundMessage, kept: Mapping[str, bytes] = NOTHING_KEPT) -> list[RouteTrace]:
    """Each route the message matches, with what it made of it (for the `render` command)."""
    return _traces(runtime, message, kept)[0]


def _traces(runtime: Runtime, message: InboundMessage,
            kept: Mapping[str, bytes]) -> tuple[list[RouteTrace], _Payload | None]:
    matches = runtime.match(message.topic)
    if message.retain:
        skipped = [m.route.name for m in matches if not m.route.retained]
        if skipped:
            log.debug("retained message on %s skipped by routes %s (a route with state only remembers it)",
                      message.topic, skipped)
        # A route with `changed` or `for` remembers a replayed state without acting on it: a restart is quiet.
        # A `silence` route starts watching a key from a replayed message, and is not reset by one.
        matches = [m for m in matches if m.route.retained or m.route.state is not None or m.route.silence is not None]
    if not matches:
        return [], None
    payload = _Payload.of(message, runtime)
    return [_listen(message, payload, match, fires=not message.retain or match.route.retained)
            if match.route.silence is not None else
            _render(runtime, message, payload, match, fires=not message.retain or match.route.retained, kept=kept)
            for match in matches], payload


def _listen(message: InboundMessage, payload: _Payload, match: RouteMatch, *, fires: bool) -> RouteTrace:
    """A message on a `silence` route: heard (or not, when `when` is false or it cannot be decoded)."""
    context = _context(message, payload, match)
    if context is None:
        return RouteTrace(route=match.route, when=None, outcomes=())
    return _heard(match.route, message, context, event_id=payload.event_id, fires=fires)


def _render(runtime: Runtime, message: InboundMessage, payload: _Payload, match: RouteMatch, *,
            fires: bool = True, kept: Mapping[str, bytes] = NOTHING_KEPT) -> RouteTrace:
    route = match.route
    if not fires:
        return _observe(message, payload, match)

    def rejected(error: str, when: bool | None = None) -> RouteTrace:
        return RouteTrace(route=route, when=when, outcomes=tuple(
            Rejected(event_id=payload.event_id, route=route.name, topic=message.topic, room_key=key,
                     error=error) for key in route.rooms))

    binary = route.attachment is not None and route.attachment.from_payload  # no text to decode
    context = _context(message, payload, match)
    if context is None:
        return rejected(payload.problem or "the payload cannot be decoded")
    holds: bool | None = None
    state: StateMark | None = None
    try:
        if route.when is not None:
            holds = route.when.holds(context)
        if route.state is not None:
            try:
                state = route.state.mark(route, context, holds is not False, _held(message), fires=True)
            except EventRejected as exc:
                if holds is not False:
                    raise
                log.debug("route %s: 'when' is false for %s, and its key cannot be rendered: %s", route.name,
                          message.topic, exc)
        if holds is False:
            log.debug("route %s: 'when' is false for %s", route.name, message.topic)
            return RouteTrace(route=route, when=False, outcomes=(), state=state)
        text = route.template.render(context) if route.template is not None else ""
        attachment = None
        if route.attachment is not None:
            attachment = build_attachment(route.attachment, payload=message.payload, context=context,
                                          max_bytes=runtime.attachments.max_bytes,
                                          default_name=_file_stem(message.topic), kept=kept)
        mark = route.throttle.mark(route.name, context) if route.throttle is not None else None
        batch = route.batch.mark(route.name, context, text) if route.batch is not None else None
    except NotKeptYet as exc:
        # Announced once the image exists: like `when` false now, and a later message (Frigate's
        # next `update`) sends it; the state it says is remembered all the same.
        log.debug("route %s: %s: nothing is sent for %s yet", route.name, exc, message.topic)
        return RouteTrace(route=route, when=False, outcomes=(), state=state)
    except EventRejected as exc:
        refused = rejected(str(exc) if isinstance(exc, PayloadError) and not binary
                           else f"route {route.name!r}: {exc}", holds)
        # Remembered all the same; the timer is left alone: this event cannot be sent, and says nothing of `when`.
        return RouteTrace(route=route, when=holds, outcomes=refused.outcomes, state=_no_timer(state))
    return RouteTrace(route=route, when=holds, outcomes=tuple(
        Queued(delivery=Delivery(event_id=payload.event_id, route=route.name, source_topic=message.topic,
                                 room_key=key, text=text, created_at=message.received_at, mentions=route.mentions,
                                 attachment=attachment),
               policy=route.policy, throttle=mark, state=state, fallback=route.fallback, batch=batch)
        for key in route.rooms), state=state)


def _heard(route: Route, message: InboundMessage, context: dict[str, Any], *, event_id: str,
           fires: bool) -> RouteTrace:
    """A `silence` route's message: when `when` holds (or there is none), the route heard its key."""
    assert route.silence is not None
    try:
        holds = route.when.holds(context) if route.when is not None else None
        if holds is False:
            return RouteTrace(route=route, when=False, outcomes=())
        heard = route.silence.mark(route, context, _held(message), event_id=event_id, fires=fires)
        return RouteTrace(route=route, when=holds, outcomes=(), silence=heard)
    except EventRejected as exc:
        # Nothing to send now, so nothing to report: the message does not count as the route being heard.
        log.info("route %s: a message on %s does not count as heard: %s", route.name, message.topic, exc)
        return RouteTrace(route=route, when=None, outcomes=())


def _context(message: InboundMessage, payload: _Payload, match: RouteMatch) -> dict[str, Any] | None:
    """The template variables of a route for a message; None when the payload cannot be decoded."""
    route = match.route
    context: dict[str, Any] = {**match.match.named, "topic": message.topic, "wildcards": list(match.match.wildcards)}
    if route.attachment is not None and route.attachment.from_payload:
        context.update(payload=None, raw="")
    elif payload.decoded is None:
        return None
    else:
        context.update(payload=payload.decoded.value, raw=payload.decoded.raw)
    return context


def _observe(message: InboundMessage, payload: _Payload, match: RouteMatch) -> RouteTrace:
    """A retained message on a route with state it does not act on: what it says, and no outcome."""
    route = match.route
    context = _context(message, payload, match)
    assert route.state is not None
    try:
        if context is None:
            raise EventRejected(payload.problem or "the payload cannot be decoded")
        holds = route.when.holds(context) if route.when is not None else True
        return RouteTrace(route=route, when=holds, outcomes=(),
                          state=route.state.mark(route, context, holds, _held(message), fires=False))
    except EventRejected as exc:
        log.debug("route %s: retained message on %s not remembered: %s", route.name, message.topic, exc)
        return RouteTrace(route=route, when=None, outcomes=())


def _held(message: InboundMessage) -> HeldMessage:
    return HeldMessage(message.topic, message.payload, message.received_at)


def _no_timer(state: StateMark | None) -> StateMark | None:
    """A rejected event's state: its value is remembered; its key's timer neither armed nor cancelled."""
    return None if state is None else dataclasses.replace(state, hold=None, message=None)


def fire(runtime: Runtime, *, route_name: str, event_id: str, message: HeldMessage, rooms: tuple[str, ...],
         now: float, condition_since: float, note: str | None = None) -> tuple[Planned, ...]:
    """A `for` timer that has run out, rendered from the latest message it kept, for each room the
    event that armed it was to go to (the reports promised to it)."""
    def rejected(error: str) -> tuple[Planned, ...]:
        return tuple(Rejected(event_id=event_id, route=route_name, topic=message.topic, room_key=key,
                              error=error) for key in rooms)

    route = next((r for r in runtime.routes if r.name == route_name), None)
    match = route.filter.match(message.topic) if route is not None else None
    if route is None or match is None:
        return rejected(f"route {route_name!r} is no longer configured for {message.topic}: its 'for' timer "
                        "ran out, but there is nothing to send it with")
    inbound = InboundMessage(topic=message.topic, payload=message.payload, retain=False, received_at=now)
    payload = dataclasses.replace(_Payload.of(inbound, runtime), event_id=event_id)
    trace = _render(runtime, inbound, payload, RouteMatch(dataclasses.replace(route, rooms=rooms), match))
    if trace.when is False:
        return rejected(f"route {route_name!r}: its 'when' does not hold for the latest message its 'for' timer "
                        "kept (the route was changed since)")
    return tuple(Queued(delivery=o.delivery, policy=o.policy, throttle=o.throttle, state=None,
                        condition_since=condition_since, note=note, fallback=o.fallback)
                 if isinstance(o, Queued) else o for o in trace.outcomes)


def direct_send_message(runtime: Runtime, message: InboundMessage, room_key: str) -> Planned:
    """A direct send as it arrives: plain text, or JSON `{"text": ..., "id": ..., "mention": [...]}`."""
    return _direct_send_message(runtime, message, room_key, _Payload.of(message, runtime))


def _direct_send_message(runtime: Runtime, message: InboundMessage, room_key: str, payload: _Payload) -> Planned:
    if payload.decoded is None:
        return Rejected(event_id=payload.event_id, route=None, topic=message.topic, room_key=room_key,
                        error=payload.problem or "the payload cannot be decoded")
    if isinstance(payload.decoded.value, dict):
        text: Any = payload.decoded.value.get("text")
        if not isinstance(text, str):
            return Rejected(event_id=payload.event_id, route=None, topic=message.topic, room_key=room_key,
                            error='a JSON direct send needs a "text" field holding a string')
        mention: Any = payload.decoded.value.get("mention", [])
    else:
        text, mention = payload.decoded.raw, []
    return direct_send(runtime, topic=message.topic, room_key=room_key, text=text, mention=mention,
                       event_id=payload.event_id, received_at=message.received_at)


def direct_send(runtime: Runtime, *, topic: str, room_key: str, text: str, event_id: str, received_at: float,
                mention: Any = (), attachment: Attachment | None = None) -> Planned:
    """A text for one room by key, from `<base>/send/<key>`, the `send` request or the HTTP door.

    `mention` is a list of contact keys, as given by the caller (checked here). With an
    `attachment` (Apprise's way in, `bridge.apprise_in`) the text may be empty.
    """
    def reject(error: str, reason: RejectReason = "bad_input") -> Rejected:
        return Rejected(event_id=event_id, route=None, topic=topic, room_key=room_key, error=error, reason=reason)

    room = runtime.rooms.get(room_key)
    if room is None:
        known = ", ".join(sorted(runtime.rooms)) or "none are configured"
        if not room_key:
            return reject(f"no room key: publish to {runtime.topics.send('<room key>')} (known keys: {known})",
                          "unknown_room")
        return reject(f"unknown room key {room_key!r} (known: {known})", "unknown_room")
    if not room.allow_direct:
        return reject(f"room {room_key!r} does not take direct sends (allow_direct: false)", "direct_not_allowed")
    problem = (None if attachment is not None and not text else _text_problem(text)) or _mention_problem(
        runtime, mention)
    if problem:
        return reject(problem)
    return Queued(delivery=Delivery(event_id=event_id, route=None, source_topic=topic, room_key=room_key, text=text,
                                    created_at=received_at, mentions=tuple(mention), attachment=attachment),
                  policy=runtime.direct_policy)


def _mention_problem(runtime: Runtime, mention: Any) -> str | None:
    if not isinstance(mention, list | tuple) or not all(isinstance(k, str) for k in mention):
        return '"mention" must be a list of contact keys'
    unknown = [key for key in mention if key not in runtime.contacts]
    if unknown:
        known = ", ".join(sorted(runtime.contacts)) or "none are configured"
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

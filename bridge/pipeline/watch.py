"""The messages of `silence` and `batch` routes, rendered when the timers task sends them (pure).

A silence message is the route's template rendered from the last message heard for the key,
with `silent` (true: the key went silent; false: it was heard again, "back"), `silent_for`
(seconds: how long it has been silent, or was) and `silent_since` (epoch seconds: when it was
last heard before the silence). Each room the route had then gets one delivery.

A batch message is the route's `batch.template` rendered with `count`, `items` (how each event
is named, `batch.item`, else its text), `texts` (each event's own text) and `route`; without a
template, the catalog's header ("{count} events on route {route}:") and one line per text. A
batch of one event is sent as that event's own text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bridge.errors import EventRejected
from bridge.events import Delivery, HeldMessage, InboundMessage, Planned, Queued, Rejected, new_event_id
from bridge.i18n import texts_for
from bridge.pipeline.plan import _context, _Payload
from bridge.pipeline.routing import Route, RouteMatch
from bridge.pipeline.runtime import Runtime


@dataclasses.dataclass(kw_only=True, frozen=True, slots=True)
class SilenceFiring:
    """A silence timer to render: which route and key, from which message, and which of the two messages."""

    route: str
    rooms: tuple[str, ...]
    message: HeldMessage
    #: True: the key went silent; False: it was heard again after a silence.
    silent: bool
    silent_since: float
    silent_for: float
    #: The id the deliveries carry (a "back" message: the event that ended the silence).
    event_id: str | None = None
    note: str | None = None


def find_route(runtime: Runtime, name: str) -> Route | None:
    return next((r for r in runtime.routes if r.name == name), None)


def silence_message(runtime: Runtime, firing: SilenceFiring, *, now: float) -> tuple[Planned, ...] | None:
    """The deliveries of a silence or "back" message; None when the route no longer watches silence."""
    route = find_route(runtime, firing.route)
    match = route.filter.match(firing.message.topic) if route is not None else None
    if route is None or route.silence is None or match is None:
        return None
    event_id = firing.event_id or new_event_id()
    message = firing.message
    inbound = InboundMessage(topic=message.topic, payload=message.payload, retain=False, received_at=now)
    payload = _Payload.of(inbound, runtime)
    context: dict[str, Any] | None = _context(inbound, payload, RouteMatch(route, match))
    if context is None:
        context = {**match.named, "topic": message.topic, "wildcards": list(match.wildcards), "payload": None,
                   "raw": ""}
    context |= {"silent": firing.silent, "silent_for": firing.silent_for, "silent_since": firing.silent_since}
    try:
        text = route.template.render(context) if route.template is not None else ""
    except EventRejected as exc:
        return tuple(Rejected(event_id=event_id, route=route.name, topic=message.topic, room_key=key,
                              error=f"route {route.name!r}: {exc}") for key in firing.rooms)
    return tuple(Queued(delivery=Delivery(event_id=event_id, route=route.name, source_topic=message.topic,
                                          room_key=key, text=text, created_at=now, mentions=route.mentions),
                        policy=route.policy, silent_since=firing.silent_since, note=firing.note,
                        fallback=route.fallback)
                 for key in firing.rooms)


@dataclasses.dataclass(frozen=True, slots=True)
class Gathered:
    """One delivery gathered in a batch: its room, its own text, and how the batch message names it."""

    room_key: str
    text: str
    item: str


def batch_texts(runtime: Runtime, route_name: str, gathered: Sequence[Gathered]) -> dict[str, str]:
    """The one message per room that carries a batch (none for a room with one event: it goes as itself)."""
    route = find_route(runtime, route_name)
    rooms: dict[str, list[Gathered]] = {}
    for one in gathered:
        rooms.setdefault(one.room_key, []).append(one)
    return {room: _batch_text(runtime, route, route_name, found) for room, found in rooms.items() if len(found) > 1}


def _batch_text(runtime: Runtime, route: Route | None, route_name: str, found: list[Gathered]) -> str:
    texts = [one.text for one in found]
    spec = route.batch if route is not None else None
    if spec is not None and spec.template is not None:
        try:
            return spec.template.render({"count": len(found), "items": [one.item for one in found], "texts": texts,
                                         "route": route_name}, what="the batch template")
        except EventRejected:
            pass  # the events were accepted: they go in the catalog's form rather than not at all
    catalog = texts_for(runtime.config.locale)
    header = catalog.gettext("{count} events on route {route}:").format(count=len(found), route=route_name)
    return "\n".join([header, *(catalog.gettext("• {text}").format(text=text) for text in texts)])

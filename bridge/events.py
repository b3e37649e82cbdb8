"""Frozen values passed between the stages: what came in, what is to be sent, what happened.

Imports nothing of ours (`tests/test_architecture.py` holds it to that): a stage that only
wants one of these values never pulls in the MQTT client, the WeChat link or the database.

    InboundMessage, Acknowledge    what the broker handed us, and how to PUBACK it
    Publication                    what we publish
    Delivery, Attachment           one rendered text (and image or file) for one room
    DeliveryPolicy, ThrottleMark   how hard to try it; the route throttle scope it counts against
    StateMark                      what an event says about its route's state per key (`changed`, `for`)
    SilenceMark, BatchMark         an event heard by a `silence` route; an event gathered by a `batch` route
    Queued | Rejected              what the pipeline made of one target (event x room)
    DeliveryReport, RoomRef        the one terminal outcome of a target, as published
    FallbackOutcome                what the fallback (Apprise) did for it, when it was used
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

DeliveryStatus = Literal["delivered", "rejected", "failed", "expired", "dropped"]
#: Why an event was rejected, for callers that answer in codes (the HTTP door); not published.
RejectReason = Literal["unknown_room", "direct_not_allowed", "bad_input", "queue_full"]
#: A route's use of the fallback: `default` (escalate `priority: high` late, forward `failed`),
#: `always` (through the fallback at once, and to WeChat as usual), `never`.
FallbackMode = Literal["default", "always", "never"]


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(kw_only=True, frozen=True, slots=True)
class InboundMessage:
    """One MQTT message as the broker handed it to us."""

    topic: str
    payload: bytes
    retain: bool
    received_at: float
    qos: int = 0
    #: The broker's DUP flag: it may have sent this message before (mosquitto sets it on every
    #: message it sends a resumed session, so it means "maybe", never "surely").
    dup: bool = False


#: Sends the PUBACK of one message; False when its connection is gone (the broker will redeliver it).
Acknowledge = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Publication:
    """One MQTT message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(kw_only=True, frozen=True, slots=True)
class Attachment:
    """An image or file to send after the text: bytes already in hand, or where to get them at send time."""

    kind: Literal["image", "file"]
    name: str
    data: bytes | None = None  # the MQTT payload itself (a Frigate snapshot, say)
    url: str | None = None  # downloaded when sent, with a timeout and a size cap
    path: str | None = None  # a file inside `attachments.directory`


@dataclass(kw_only=True, frozen=True, slots=True)
class Delivery:
    """One rendered text (and attachment) for one room: the unit that is queued, sent and reported."""

    event_id: str
    route: str | None  # None for a direct send on <base>/send/<key>
    source_topic: str
    room_key: str
    text: str  # may be empty when there is an attachment
    created_at: float
    #: Contact keys to @-mention in the text.
    mentions: tuple[str, ...] = ()
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class RoomRef:
    """The room as the report shows it; id and topic are None when it could not be resolved."""

    key: str
    id: str | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class FallbackOutcome:
    """The fallback send of one delivery, as its report shows it: the schemes it went out by
    (`ntfy`, `mailto`), never a URL, whose path and password are often the secret."""

    status: Literal["sent", "failed"]
    via: tuple[str, ...]
    ts: float


@dataclass(kw_only=True, frozen=True, slots=True)
class DeliveryReport:
    """The single terminal outcome of one event for one room, published on <base>/bridge/delivery."""

    id: str
    status: DeliveryStatus
    route: str | None
    topic: str
    room: RoomRef
    error: str | None
    ts: float
    reason: RejectReason | None = None
    #: Delivered folded into a digest message: the digest's id (the same in every folded report).
    digest: str | None = None
    #: A route with `for`: when its condition began (epoch seconds; published as ISO 8601 UTC).
    condition_since: float | None = None
    #: Something the reader should know about how the outcome came about (a timer fired late).
    note: str | None = None
    #: A route with `silence`: when the route (key) was last heard before it went silent.
    silent_since: float | None = None
    #: Also sent through the fallback (`status` stays the WeChat outcome).
    fallback: FallbackOutcome | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class DeliveryPolicy:
    """How hard and how long the bridge tries one delivery.

    Stored with each outbox row when the event is accepted, so a config change or a restart does
    not change the promise made to an event already accepted.
    """

    attempts: int
    backoff: float
    max_backoff: float
    expire_after: float | None = None
    #: Claim order: higher first (`priority: high` is 1), then oldest first.
    priority: int = 0

    def retry_delay(self, attempts_made: int) -> float:
        """Seconds to wait after the `attempts_made`-th failed attempt: backoff, doubled each time, capped."""
        return float(min(self.backoff * 2 ** max(attempts_made - 1, 0), self.max_backoff))


@dataclass(frozen=True, slots=True)
class ThrottleMark:
    """What the outbox needs to decide a route throttle: the route, the rendered key, the period."""

    route: str
    key: str
    period: float

    @property
    def scope(self) -> str:
        return f"{self.route}\0{self.key}"


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """The message a `for` timer renders from when it fires: the latest one seen for its key."""

    topic: str
    payload: bytes
    received_at: float


@dataclass(kw_only=True, frozen=True, slots=True)
class StateMark:
    """What one event says about its route's state for one key, for the outbox to decide and keep.

    `value`: the rendered `changed` value (None: the route has no `changed`, or it did not render);
    the outbox remembers it per route and key, whether `when` holds or not. `holds`: the `when`
    verdict, which arms (`hold` seconds, `for`) or cancels the key's timer. `fires` False: a
    retained message replayed by the broker: it updates what is remembered, never sends or arms.
    """

    route: str
    key: str
    holds: bool
    value: str | None = None
    #: The `changed` label for the sentence of an unchanged event (`contact` in `contact is still false`).
    label: str = "the value"
    #: Whether the first value seen for the key counts as a change (`changed_initial`).
    initial: bool = True
    #: `for`: how long `when` must hold, in seconds; None: no timer.
    hold: float | None = None
    #: For a timer: the message to render from when it fires, and the rooms to report to.
    message: HeldMessage | None = None
    rooms: tuple[str, ...] = ()
    fires: bool = True

    @property
    def scope(self) -> str:
        return f"{self.route}\0{self.key}"


@dataclass(kw_only=True, frozen=True, slots=True)
class SilenceMark:
    """An event heard by a route with `silence`, for one key: it restarts the key's silence timer,
    or ends a silence (`back`). `fires` False: a retained message replayed by the broker, which
    starts watching a key never heard before and otherwise says nothing (a restart is not a report)."""

    route: str
    key: str
    #: The silence window, in seconds.
    silence: float
    back: bool
    message: HeldMessage
    rooms: tuple[str, ...]
    #: The event's id: a "back" message carries the id of the event that ended the silence.
    event_id: str
    fires: bool = True

    @property
    def scope(self) -> str:
        return f"{self.route}\0{self.key}"


@dataclass(frozen=True, slots=True)
class BatchMark:
    """An event of a route with `batch`: gathered with the route's others for `window` seconds (or
    until `count` events), then sent as one message; `item` is how the batch message names it."""

    route: str
    window: float
    count: int | None
    item: str


@dataclass(kw_only=True, frozen=True, slots=True)
class Queued:
    """A delivery to store as pending, with the policy it is to be tried under."""

    delivery: Delivery
    policy: DeliveryPolicy
    #: The route's throttle scope for this event: dropped if the scope passed another event recently.
    throttle: ThrottleMark | None = None
    #: The route's state for this event's key (`changed`, `for`): the outbox decides whether it goes.
    state: StateMark | None = None
    #: Set on the deliveries of a fired `for` timer: when the condition began.
    condition_since: float | None = None
    note: str | None = None
    #: Set on the deliveries of a `silence` route's messages: when the route was last heard.
    silent_since: float | None = None
    #: The route's `batch`: gathered with the route's other events into one message.
    batch: BatchMark | None = None
    #: The route's `fallback`, stored with the row like the policy.
    fallback: FallbackMode = "default"

    @property
    def event_id(self) -> str:
        return self.delivery.event_id

    @property
    def topic(self) -> str:
        return self.delivery.source_topic


@dataclass(kw_only=True, frozen=True, slots=True)
class Rejected:
    """A target (event x room) that cannot be delivered as given: stored finished, never sent.

    `error` is the sentence of its report, written for the person reading it; `reason` the code
    for callers that answer in codes (the HTTP door).
    """

    event_id: str
    route: str | None
    topic: str
    room_key: str
    error: str
    reason: RejectReason = "bad_input"

    def report(self, ts: float) -> DeliveryReport:
        return DeliveryReport(id=self.event_id, status="rejected", route=self.route, topic=self.topic,
                              room=RoomRef(self.room_key), error=self.error, ts=ts, reason=self.reason)


@dataclass(frozen=True, slots=True)
class Openings:
    """Which rooms the delivery worker may send to now, as the transports say (`bridge.wechat.transports`).

    `ready`: anything at all (the gateway's rooms resolved, or an official bot bound); `blocked`:
    rooms whose rows all wait, whatever their priority (an official bot whose window or budget is
    gone, a gateway that is not logged in); `fold`: rooms whose due plain texts go out as one digest
    now (those due before the value): a bot's last message before its budget ends, or the first
    after the person wrote again; `next_change`: when (wall time) a blocked room may open by itself.
    """

    ready: bool
    blocked: frozenset[str] = frozenset()
    fold: Mapping[str, float] = field(default_factory=dict)
    next_change: float | None = None


#: What the pipeline makes of one target.
Planned = Queued | Rejected

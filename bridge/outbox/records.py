"""The values the outbox takes and gives: what the intake stores, what the worker claims and
finishes, and the queue's figures. Plain frozen data, so callers and tests build them without a
database; `bridge.outbox` is what reads and writes them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.events import (
    Attachment,
    DeliveryPolicy,
    DeliveryReport,
    HeldMessage,
    Planned,
    RoomRef,
    SilenceMark,
    StateMark,
    ThrottleMark,
)

RowStatus = Literal["pending", "delivered", "rejected", "failed", "expired", "dropped"]
STATUSES: tuple[RowStatus, ...] = ("pending", "delivered", "rejected", "failed", "expired", "dropped")


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """What makes two MQTT messages the same event.

    `by_content` False: the producer's payload `id` (with the topic); any repeat within the
    idempotency window is a duplicate. True: a hash of topic and payload, for messages without
    an id; only a broker redelivery (DUP flag) of a copy we have not acknowledged is a duplicate.
    """

    value: str
    by_content: bool


@dataclass(kw_only=True, frozen=True, slots=True)
class Arrival:
    """Everything one MQTT message turned into, stored together or recognised as a duplicate."""

    key: IdempotencyKey
    dup: bool
    #: QoS 1: the broker redelivers the message until we acknowledge it.
    needs_ack: bool
    outcomes: tuple[Planned, ...]
    received_at: float
    #: What the message says about routes' state per key with no target to carry it (`Plan.observations`).
    observations: tuple[StateMark, ...] = ()
    #: The `silence` routes that heard it (`Plan.silences`).
    silences: tuple[SilenceMark, ...] = ()

    @property
    def event_id(self) -> str | None:
        """The id the pipeline gave the event, carried by each of its outcomes; None without any."""
        return self.outcomes[0].event_id if self.outcomes else None


@dataclass(frozen=True, slots=True)
class Accepted:
    #: The `events` row, to mark acknowledged once the PUBACK has been sent.
    event_row: int
    rows: int
    #: What was stored finished instead of queued: rejected by the pipeline, throttled, the queue full.
    refused: tuple[DeliveryReport, ...] = ()


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The message is an event already stored (`bridge.admission.duplicate_reason` says why)."""

    event_id: str
    accepted_at: float
    #: True: a broker redelivery (DUP) of an identical message not yet acknowledged; False: the same payload id.
    redelivered: bool


@dataclass(frozen=True, slots=True)
class ThrottlePass:
    """The last event a throttle scope let through, as the outbox keeps it."""

    event_id: str
    passed_at: float
    until: float


@dataclass(frozen=True, slots=True)
class Throttled:
    """The scope of `mark` let another event through at `passed_at` and is still closed."""

    mark: ThrottleMark
    passed_at: float


@dataclass(frozen=True, slots=True)
class QueueFull:
    """`limit` (`limits.max_queued`) deliveries are undelivered already."""

    limit: int


AcceptResult = Accepted | Duplicate


@dataclass(frozen=True, slots=True)
class LastValue:
    """The `changed` value last seen for a route and key, as the outbox keeps it."""

    value: str
    seen_at: float


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The event's `changed` value is the one last seen (or the first, under `changed_initial: false`)."""

    mark: StateMark
    #: None: no value was seen before for this key.
    last: LastValue | None


@dataclass(kw_only=True, frozen=True, slots=True)
class Timer:
    """A route's `for` timer for one key, as the outbox keeps it."""

    route: str
    key: str
    #: The event that armed it: its reports wait for the timer to fire or be cancelled.
    event_id: str
    #: When the condition began (the arming event's arrival).
    since: float
    due_at: float
    #: When it fired (the condition still holds, and was sent); None: armed.
    fired_at: float | None
    #: The latest message seen for the key while armed: what is rendered when it fires.
    message: HeldMessage
    rooms: tuple[str, ...]
    hold: float
    #: Counts updates, so a firing rendered from one message does not commit over a newer one.
    version: int = 0


@dataclass(frozen=True, slots=True)
class Holding:
    """The key's condition already holds: its timer is armed (or has fired) for another event."""

    timer: Timer


@dataclass(frozen=True, slots=True)
class Armed:
    """This event armed the key's timer: its deliveries wait for it (nothing is stored for them now)."""

    timer: Timer


StateVerdict = Unchanged | Holding | Armed


@dataclass(kw_only=True, frozen=True, slots=True)
class Silence:
    """A `silence` route's timer for one key, as the outbox keeps it (`bridge.outbox.watches`)."""

    route: str
    key: str
    rooms: tuple[str, ...]
    silence: float
    back: bool
    #: When the key was last heard (while silent: when the silence began).
    heard_at: float
    due_at: float
    #: Silent since then (its message was sent); None: watching.
    silent_since: float | None
    #: Heard again while silent: a "back" message to send.
    back_at: float | None
    #: The event heard last: a "back" message carries its id.
    event_id: str
    message: HeldMessage
    version: int = 0

    @property
    def scope(self) -> str:
        return f"{self.route}\0{self.key}"


@dataclass(kw_only=True, frozen=True, slots=True)
class BatchMember:
    """One pending delivery gathered in a batch."""

    seq: int
    event_id: str
    room_key: str
    text: str
    item: str


@dataclass(kw_only=True, frozen=True, slots=True)
class GatheredBatch:
    """A batch whose window ran out, with its pending deliveries, oldest first."""

    batch_id: str
    route: str
    opened_at: float
    members: tuple[BatchMember, ...]


@dataclass(frozen=True, slots=True)
class BatchClaim:
    """The deliveries of one batch in one room, claimed together, and the text that carries them
    (no rows: the claim committed the last outcome and found nothing to send)."""

    rows: tuple[OutboxRow, ...]
    text: str


@dataclass(kw_only=True, frozen=True, slots=True)
class Finish:
    """The outcome of a send, to commit on its own (`Outbox.finish`) or with the next claim."""

    seq: int
    status: Literal["delivered", "failed", "rejected"]
    now: float
    room: RoomRef
    error: str | None = None
    #: False: WeChat was not asked (rejected before the send): no attempt is counted.
    attempted: bool = True
    #: What the report should say beyond the status (an attachment the transport could not carry).
    note: str | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class RowExtras:
    """A delivery's stored extras: its mentions and attachment, how far its sending got, and what
    its report says beyond the status. Kept as one JSON column, so a new one needs no migration."""

    #: Contact keys to @-mention.
    mentions: tuple[str, ...] = ()
    attachment: Attachment | None = None
    #: The text went out; a retry sends only the attachment.
    text_sent: bool = False
    #: Delivered folded into the digest named by this id (the seq of the digest's first row).
    digest: str | None = None
    condition_since: float | None = None
    note: str | None = None
    silent_since: float | None = None

    @classmethod
    def parse(cls, stored: str | None) -> RowExtras:
        if not stored:
            return NO_EXTRAS
        found: dict[str, Any] = json.loads(stored)
        a = found.get("attachment")
        attachment = None if not a else Attachment(
            kind=a["kind"], name=a["name"], data=base64.b64decode(a["data"]) if a.get("data") is not None else None,
            url=a.get("url"), path=a.get("path"))
        return cls(mentions=tuple(found.get("mentions", ())), attachment=attachment,
                   text_sent=bool(found.get("text_sent")), digest=found.get("digest"),
                   condition_since=found.get("condition_since"), note=found.get("note"),
                   silent_since=found.get("silent_since"))

    def to_json(self) -> str | None:
        """The JSON stored in `extras` (only the keys set; None when nothing is)."""
        found: dict[str, Any] = {}
        if self.condition_since is not None:
            found["condition_since"] = self.condition_since
        if self.note is not None:
            found["note"] = self.note
        if self.silent_since is not None:
            found["silent_since"] = self.silent_since
        if self.mentions:
            found["mentions"] = list(self.mentions)
        a = self.attachment
        if a is not None:
            found["attachment"] = {"kind": a.kind, "name": a.name, "url": a.url, "path": a.path,
                                   "data": base64.b64encode(a.data).decode() if a.data is not None else None}
        if self.text_sent:
            found["text_sent"] = True
        if self.digest is not None:
            found["digest"] = self.digest
        return json.dumps(found) if found else None


NO_EXTRAS = RowExtras()


@dataclass(kw_only=True, frozen=True, slots=True)
class OutboxRow:
    """One (event, room) delivery as stored."""

    seq: int
    event_id: str
    route: str | None
    source_topic: str
    room_key: str
    text: str | None
    status: RowStatus
    attempts: int
    max_attempts: int
    backoff: float
    max_backoff: float
    created_at: float
    expires_at: float | None
    next_attempt_at: float
    sending_since: float | None
    finished_at: float | None
    room_id: str | None
    room_topic: str | None
    error: str | None
    reported_at: float | None
    priority: int = 0
    #: What a row carries beyond its columns, stored as JSON in `extras` and parsed once, when the
    #: row is read (`OutboxRow.from_db`).
    extras: RowExtras = field(default_factory=lambda: NO_EXTRAS)
    #: How many sends of this row ended in doubt (cut off, timed out, or the bridge stopped).
    doubts: int = 0

    @classmethod
    def from_db(cls, values: tuple[Any, ...]) -> OutboxRow:
        """A row as SELECTed in the order of the fields; `extras` parsed from its JSON."""
        found = dict(zip(cls.__dataclass_fields__, values, strict=True))
        found["extras"] = RowExtras.parse(found["extras"])
        return cls(**found)

    @property
    def mentions(self) -> tuple[str, ...]:
        return self.extras.mentions

    @property
    def attachment(self) -> Attachment | None:
        return self.extras.attachment

    @property
    def text_sent(self) -> bool:
        return self.extras.text_sent

    @property
    def foldable(self) -> bool:
        """A plain normal-priority text a digest may carry (no mentions, no attachment, nothing sent yet)."""
        e = self.extras
        return self.priority == 0 and self.text is not None and not (e.mentions or e.attachment or e.text_sent)

    @property
    def policy(self) -> DeliveryPolicy:
        expire_after = None if self.expires_at is None else self.expires_at - self.created_at
        return DeliveryPolicy(attempts=self.max_attempts, backoff=self.backoff, max_backoff=self.max_backoff,
                              expire_after=expire_after, priority=self.priority)

    def report(self) -> DeliveryReport:
        """The terminal report of a finished row."""
        if self.status == "pending":
            raise ValueError(f"delivery {self.seq} is still pending")
        return DeliveryReport(
            id=self.event_id, status=self.status, route=self.route, topic=self.source_topic,
            room=RoomRef(self.room_key, self.room_id, self.room_topic), error=self.error,
            ts=self.finished_at if self.finished_at is not None else time.time(),
            digest=self.extras.digest, condition_since=self.extras.condition_since, note=self.extras.note,
            silent_since=self.extras.silent_since,
        )


@dataclass(kw_only=True, frozen=True, slots=True)
class OutboxStats:
    """The queue at a glance, for logs and for `bridge/info`."""

    #: Deliveries not finished yet (waiting, retrying or being sent).
    depth: int
    #: Seconds since the oldest unfinished delivery was received; None when there is none.
    oldest_age: float | None
    #: Deliveries being sent right now.
    sending: int
    #: Rows per status, over the retention period (`outbox.keep_finished`).
    by_status: Mapping[str, int] = field(default_factory=dict)
    #: Finished deliveries whose report has not reached the broker yet.
    unreported: int = 0
    commits: int = 0
    #: Unfinished deliveries an earlier send of which timed out or was cut off (it may have arrived).
    in_doubt: int = 0
    #: Normal deliveries waiting for the end of their room's quiet hours.
    held: int = 0

    def __str__(self) -> str:
        oldest = f" (oldest {self.oldest_age:.1f} s)" if self.oldest_age is not None else ""
        counts = ", ".join(f"{self.by_status.get(s, 0)} {s}" for s in STATUSES if s != "pending")
        return (f"{self.depth} pending{oldest}, {self.sending} sending; {counts}; "
                f"{self.unreported} reports not yet published")

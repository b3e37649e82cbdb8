"""Frozen values passed between the stages: what came in, what is to be sent, what happened."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

DeliveryStatus = Literal["delivered", "rejected", "failed", "expired", "dropped"]
#: Why an event was rejected, for callers that answer in codes (the HTTP door); not published.
RejectReason = Literal["unknown_room", "direct_not_allowed", "bad_input", "queue_full"]


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image or file to send after the text: bytes already in hand, or where to get them at send time."""

    kind: Literal["image", "file"]
    name: str
    data: bytes | None = None  # the MQTT payload itself (a Frigate snapshot, say)
    url: str | None = None  # downloaded when sent, with a timeout and a size cap
    path: str | None = None  # a file inside `attachments.directory`


@dataclass(frozen=True, slots=True)
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

    @classmethod
    def rejected(cls, *, event_id: str, route: str | None, topic: str, room_key: str, error: str,
                 reason: RejectReason = "bad_input") -> DeliveryReport:
        return cls(event_id, "rejected", route, topic, RoomRef(room_key), error, time.time(), reason)

"""The values of the fallback's ledger in the outbox: a send through Apprise, an outage, the figures.

Plain frozen data like `bridge.outbox_records`, so the rules (`bridge.fallback`), the service
(`bridge.fallback_service`) and tests build and read them without a database; the SQL that
stores them is `bridge.outbox_fallback`.

    FallbackSend    one notification to send through every fallback URL: an alert about the
                    account (logout, reminder, back) or a delivery's text (always, priority, failed)
    OutageRecord    the outage in progress: since when, when it was alerted and reminded
    FallbackStats   the ledger at a glance, for `bridge/info`
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

#: Why a send exists. The first three carry a delivery's text; the others are about the account.
SendKind = Literal["always", "priority", "failed", "logout", "reminder", "back"]
DELIVERY_KINDS: tuple[SendKind, ...] = ("always", "priority", "failed")
SendStatus = Literal["pending", "sent", "failed"]


@dataclass(kw_only=True, frozen=True, slots=True)
class FallbackSend:
    """One row of `fallback_sends`: tried until sent, or until its tries or doubts are used up."""

    id: int
    kind: SendKind
    #: The `deliveries` row it carries the text of (None for an account alert).
    seq: int | None
    event_id: str | None
    route: str | None
    room_key: str | None
    #: An alert's title and body are composed when it is raised; a delivery's title is composed at
    #: send time (`bridge.fallback.delivery_message`) and its body is the delivery's text.
    title: str | None
    body: str
    #: The login QR code as a PNG, for a logout alert or reminder while a scan is needed.
    attachment: bytes | None
    status: SendStatus
    tries: int
    #: Sends that may have reached the service but were not confirmed (the bridge stopped, or the
    #: send ran past its time-out): at the second the row ends `failed`, never a third copy.
    doubts: int
    created_at: float
    next_attempt_at: float
    sending_since: float | None
    finished_at: float | None
    #: JSON list of the schemes the send went out by (`["ntfy"]`); never a URL.
    via: str | None
    error: str | None

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(json.loads(self.via)) if self.via else ()


@dataclass(kw_only=True, frozen=True, slots=True)
class Alert:
    """A new send about the account (logout, reminder, back), composed where it was decided."""

    kind: SendKind
    title: str
    body: str
    created_at: float
    attachment: bytes | None = None


@dataclass(frozen=True, slots=True)
class OutageRecord:
    """WeChat has not been logged in since `since` (wall time); stored, so a restart during a long
    outage neither alerts again nor forgets to say "back"."""

    since: float
    alerted_at: float | None = None
    reminded_at: float | None = None


@dataclass(frozen=True, slots=True)
class FallbackStats:
    pending: int = 0
    sent: int = 0
    failed: int = 0
    #: Pending sends an earlier try of which may have arrived.
    in_doubt: int = 0


@dataclass(frozen=True, slots=True)
class Notified:
    """What one send through every fallback URL did: the schemes that took it, those that did
    not, and whether one of those may have it all the same (it ran into its time-out)."""

    via: tuple[str, ...]
    failed: tuple[str, ...]
    in_doubt: bool

"""What the delivery worker needs of the world, and the values its parts hand each other.

The worker (`bridge.delivery`) is four parts in a loop: claim (`bridge.delivery_claim`), pace
(`bridge.pacing.Pacer.pace`), send (`bridge.delivery_send`) and record (`bridge.delivery_record`).
They meet here: a claimed `Batch` goes to send, which answers with one `Outcome`; record commits
it. The outside systems are reached through the protocols below, so the worker imports neither
the WeChat link (and grpc with it) nor the HTTP client, and a test hands it fakes.

Two clocks, because they answer two questions: `Clock.now` is wall time, what the outbox stores
(when a row was received, is due, expires, finished) and what survives a restart; `Clock.monotonic`
measures the pacing intervals, which a wall clock set back or forward must not stretch or skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

from bridge.chat import Capabilities, LoginState, WeChatContact, WeChatRoom
from bridge.errors import OutboxError
from bridge.events import RoomRef
from bridge.outbox.records import Finish, OutboxRow

if TYPE_CHECKING:  # the type of the outbox's methods only: the SQL stays behind `OutboxThread`
    from bridge.outbox.store import Outbox

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: Pause before retrying an outbox read or write that failed (disk full, I/O error).
OUTBOX_RETRY_SECONDS = 1.0

# --------------------------------------------------------------------------- what the worker uses


class Sender(Protocol):
    """The logged-in WeChat account (`bridge.wechat.WeChatClient`). Every call raises `SendError`:
    `GatewayUnavailable` when it was never made, `SendInDoubt` when it may have reached WeChat."""

    @property
    def state(self) -> LoginState: ...

    def capabilities(self, room_id: str) -> Capabilities:
        """What the transport of the room can carry now (declared, less what it refused on this connection)."""
        ...

    async def send_text(self, room_id: str, text: str, mentions: Sequence[WeChatContact] = ()) -> str: ...

    async def send_file(self, room_id: str, name: str, data: bytes) -> str: ...

    async def room_members(self, room_id: str) -> list[WeChatContact]: ...


class RoomLookup(Protocol):
    """Room key -> the WeChat room it names now (`bridge.rooms.RoomDirectory`); raises `RoomNotAvailable`."""

    def resolve(self, key: str) -> WeChatRoom: ...


class Download(Protocol):
    """GET an attachment's URL, bounded in size and time; raises `SendError` (`bridge.http.download`)."""

    def __call__(self, url: str, *, max_bytes: int, seconds: float) -> Awaitable[bytes]: ...


class Clock(Protocol):
    """Time as the worker sees it; tests pass a fake that moves only when told (or when slept on)."""

    def now(self) -> float:
        """Wall time (seconds since the epoch): what the outbox stores."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps: what pacing measures."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None:
        """Until `event` is set or `seconds` have passed (None: no limit)."""
        ...


class SystemClock:
    """The real clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


class OutboxThread(Protocol):
    """Runs an outbox method on the outbox's own thread (`bridge.outbox.OutboxRunner`)."""

    def run(self, method: Callable[Concatenate[Outbox, P], T], *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]:
        ...


class Store:
    """Outbox calls that are retried until they work: an outcome not written would leave its row
    stuck in `sending`, and a claim not made would stop delivering."""

    def __init__(self, runner: OutboxThread) -> None:
        self._runner = runner

    async def call(self, method: Callable[Concatenate[Outbox, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        while True:
            try:
                return await self._runner.run(method, *args, **kwargs)
            except OutboxError as exc:
                log.error("%s; retrying in %.0f s", exc, OUTBOX_RETRY_SECONDS)
                await asyncio.sleep(OUTBOX_RETRY_SECONDS)


# --------------------------------------------------------------------------- what the parts hand on


@dataclass(frozen=True, slots=True)
class Batch:
    """What one send carries: one row, or (`digest`) several rows of one room folded into one message."""

    rows: tuple[OutboxRow, ...]
    digest: bool = False
    #: A route's batch: the one text that carries the rows (instead of the digest format).
    text: str | None = None

    @property
    def first(self) -> OutboxRow:
        return self.rows[0]

    @property
    def room_key(self) -> str:
        return self.rows[0].room_key

    @property
    def digest_id(self) -> str:
        """The id every report of a digest carries: the seq of its first row."""
        return str(self.rows[0].seq)

    @property
    def name(self) -> str:
        """How log lines name it."""
        return f"digest {self.digest_id}" if self.digest else f"delivery {self.rows[0].event_id}"


@dataclass(frozen=True, slots=True)
class Sent:
    """WeChat took every part (and the attachment); `note`: what the transport could not carry and
    was left out or written as text instead (the report says it)."""

    room: RoomRef
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The delivery cannot be made as given (room not resolvable, contact not in the room, an
    attachment not allowed): never retried. `error` is the sentence its report carries."""

    room: RoomRef
    error: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """WeChat was not asked (not connected or not logged in): the row waits, no attempt is spent."""

    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    """WeChat (or the attachment's server) said no; `transient`: a later attempt may work."""

    room: RoomRef
    error: str
    transient: bool


@dataclass(frozen=True, slots=True)
class InDoubt:
    """The send timed out or was cut off: WeChat may have the message. The link has dropped that
    connection; the row goes out again once after the reconnect, or ends failed at its second doubt."""

    room: RoomRef
    error: str


Outcome = Sent | Rejected | Waiting | Refused | InDoubt


@dataclass(frozen=True, slots=True)
class Delivered:
    """A delivered row whose outcome is not committed yet: it goes with the next claim."""

    finish: Finish
    event_id: str
    attempt: int

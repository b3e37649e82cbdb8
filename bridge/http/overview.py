"""What the status page shows, read from the stages, and the signal its live updates wait on.

The root builds one `Overview` over the stages it already has (login status, the two links, the
room directory, the outbox's figures) and hands it to the page: the page reads nothing else. The
last `RECENT_REPORTS` delivery reports are kept here as the reporter publishes them; their
rendered texts only when `log_level` is debug, as the log would show them, since payloads are the
household's business otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bridge.config.rooms import ListenSettings
from bridge.events import DeliveryReport
from bridge.links import Link, LinkState
from bridge.outbox.records import OutboxStats
from bridge.pipeline.runtime import LiveRuntime
from bridge.reporting.status import BridgeStatus
from bridge.wechat.rooms import RoomDirectory

#: The recent deliveries list: enough to see a morning's events, small enough to send whole.
RECENT_REPORTS = 100


@dataclass(frozen=True, slots=True)
class RecentReport:
    report: DeliveryReport
    #: The text that was (to be) sent: only kept when `log_level` is debug.
    text: str | None


@dataclass(frozen=True, slots=True)
class LoginView:
    state: str
    since: float
    user: str | None
    user_id: str | None
    reason: str | None
    qrcode: str | None
    last_logout_at: float | None
    last_logout_reason: str | None


@dataclass(frozen=True, slots=True)
class ConfiguredRoom:
    key: str
    selector: str
    looked_up: bool
    problem: str | None
    id: str | None
    topic: str | None
    member_count: int | None
    allow_direct: bool
    #: None: not listening. The page words it, in its locale.
    listen: ListenSettings | None


@dataclass(frozen=True, slots=True)
class OtherRoom:
    id: str
    topic: str
    member_count: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    login: LoginView
    links: Mapping[str, LinkState]
    configured: list[ConfiguredRoom]
    others: list[OtherRoom]
    queue: OutboxStats | None
    recent: list[RecentReport]
    debug: bool


class Overview:
    def __init__(self, *, status: BridgeStatus, links: Mapping[str, Link], directory: RoomDirectory,
                 live: LiveRuntime, queue: Callable[[], Awaitable[OutboxStats]], debug: Callable[[], bool]) -> None:
        self._status = status
        self._links = links
        self._directory = directory
        self._live = live
        self._queue = queue
        self._debug = debug
        self._recent: collections.deque[RecentReport] = collections.deque(maxlen=RECENT_REPORTS)
        self.version = 0
        self._changed = asyncio.Event()

    def notify(self, *_: object) -> None:
        """Something shown changed: wake the live pages (takes and ignores any arguments, to be a callback)."""
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seen: int, within: float) -> None:
        """Until the version moves past `seen`, or `within` seconds (the queue figures move unannounced)."""
        if self.version != seen:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._changed.wait()

    def report(self, report: DeliveryReport, text: str | None) -> None:
        """A report as the reporter publishes it."""
        self._recent.appendleft(RecentReport(report, text if self._debug() else None))
        self.notify()

    async def queue_stats(self) -> OutboxStats | None:
        """The outbox's figures; None while it is closed (start-up, shutdown)."""
        try:
            return await self._queue()
        except Exception:
            return None

    async def snapshot(self) -> Snapshot:
        status = self._status
        login = status.login
        logout = status.last_logout
        queue = await self.queue_stats()
        return Snapshot(
            login=LoginView(state=login.state, since=status.login_since, user=login.user.name if login.user else None,
                            user_id=login.user.id if login.user else None, reason=login.reason,
                            qrcode=login.qrcode if login.state == "scan" else None,
                            last_logout_at=logout[0] if logout else None,
                            last_logout_reason=logout[1] if logout else None),
            links={name: link.state for name, link in self._links.items()},
            configured=self._configured(),
            others=self._others(),
            queue=queue,
            recent=list(self._recent),
            debug=self._debug(),
        )

    def _configured(self) -> list[ConfiguredRoom]:
        resolutions = self._directory.resolutions
        found = []
        for key, settings in sorted(self._live.current.rooms.items()):
            resolution = resolutions.get(key)
            room = resolution.room if resolution else None
            found.append(ConfiguredRoom(
                key=key, selector=settings.describe(), looked_up=resolution is not None,
                problem=resolution.problem if resolution else None, id=room.id if room else None,
                topic=room.topic if room else settings.topic, member_count=room.member_count if room else None,
                allow_direct=settings.allow_direct, listen=settings.listening))
        return found

    def _others(self) -> list[OtherRoom]:
        taken = {r.room.id for r in self._directory.resolutions.values() if r.room is not None}
        return [OtherRoom(room.id, room.topic, room.member_count)
                for room in sorted(self._directory.rooms, key=lambda r: (r.topic, r.id)) if room.id not in taken]

    def direct_rooms(self) -> list[str]:
        """Room keys a test message may go to (`allow_direct`)."""
        return sorted(key for key, settings in self._live.current.rooms.items() if settings.allow_direct)

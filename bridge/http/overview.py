"""What the status page shows, read from the stages, and the signal its live updates wait on.

The root builds one `Overview` over the stages it already has (login status, the two links, the
room directory, the outbox's figures) and hands it to the page: the page reads nothing else. The
signal (`Changes`) and the last `RECENT_REPORTS` delivery reports (`RecentReports`) are built
first, so the status topics and the reporter are handed their methods, not a promise of an
overview built later. A report's rendered text is kept only when `log_level` is debug, as the log
would show it, since payloads are the household's business otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from bridge.chat import IlinkState
from bridge.config.rooms import ListenSettings
from bridge.errors import OutboxError
from bridge.events import DeliveryReport
from bridge.links import Link, LinkState
from bridge.outbox.records import OutboxStats
from bridge.pipeline.runtime import LiveRuntime
from bridge.reporting.status import BridgeStatus
from bridge.wechat.rooms import RoomDirectory

log = logging.getLogger(__name__)

#: The recent deliveries list: enough to see a morning's events, small enough to send whole.
RECENT_REPORTS = 100


@dataclass(frozen=True, slots=True)
class RecentReport:
    report: DeliveryReport
    #: The text that was (to be) sent: only kept when `log_level` is debug.
    text: str | None


@dataclass(kw_only=True, frozen=True, slots=True)
class LoginView:
    state: str
    since: float
    user: str | None
    user_id: str | None
    reason: str | None
    qrcode: str | None
    last_logout_at: float | None
    last_logout_reason: str | None


@dataclass(kw_only=True, frozen=True, slots=True)
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


class IlinkLogins(Protocol):
    """The official bots as the page drives them (`bridge.wechat.official.OfficialBots`)."""

    def start_login(self, name: str) -> None: ...

    def give_verify_code(self, name: str, code: str) -> bool: ...


@dataclass(kw_only=True, frozen=True, slots=True)
class Snapshot:
    login: LoginView
    #: Each person's official bot, as `<base>/bridge/ilink/<name>` last said; None without `ilink` rooms.
    ilink: list[IlinkState] | None
    links: Mapping[str, LinkState]
    configured: list[ConfiguredRoom]
    others: list[OtherRoom]
    queue: OutboxStats | None
    recent: list[RecentReport]
    debug: bool


class Changes:
    """Something the page shows changed: a version number, and the live pages waiting on it."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def notify(self, *_: object) -> None:
        """Wake the live pages (takes and ignores any arguments, to be a callback)."""
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


class RecentReports:
    """The last `RECENT_REPORTS` delivery reports, as the reporter publishes them (`add`)."""

    def __init__(self, *, changes: Changes, debug: Callable[[], bool]) -> None:
        self._changes = changes
        self._debug = debug
        self._recent: collections.deque[RecentReport] = collections.deque(maxlen=RECENT_REPORTS)

    def add(self, report: DeliveryReport, text: str | None) -> None:
        self._recent.appendleft(RecentReport(report, text if self._debug() else None))
        self._changes.notify()

    def __iter__(self) -> Iterator[RecentReport]:
        return iter(self._recent)


class Overview:
    def __init__(self, *, status: BridgeStatus, links: Mapping[str, Link], directory: RoomDirectory,
                 live: LiveRuntime, queue: Callable[[], Awaitable[OutboxStats]], debug: Callable[[], bool],
                 changes: Changes, recent: RecentReports, ilink: IlinkLogins | None = None) -> None:
        self._status = status
        #: The official bots' logins, when the config has `ilink` rooms (else the page shows no such section).
        self.ilink = ilink
        self._links = links
        self._directory = directory
        self._live = live
        self._queue = queue
        self._debug = debug
        self._changes = changes
        self._recent = recent

    @property
    def version(self) -> int:
        return self._changes.version

    def notify(self) -> None:
        self._changes.notify()

    async def wait(self, seen: int, within: float) -> None:
        await self._changes.wait(seen, within)

    async def queue_stats(self) -> OutboxStats | None:
        """The outbox's figures; None while it is closed (start-up, shutdown) or cannot be read."""
        try:
            return await self._queue()
        except OutboxError as exc:
            log.debug("status page: no queue figures: %s", exc)  # closed at start-up and shutdown: expected
        except Exception:
            log.exception("status page: reading the queue figures failed")
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
            ilink=[status.ilink[name] for name in sorted(status.ilink)] if self.ilink is not None else None,
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

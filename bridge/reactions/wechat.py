"""What the bridge does when WeChat reports something: login, logout, room changes, messages.

Login: log it, publish the state (and Home Assistant's), then read the room list and resolve
every configured room key; only then may queued deliveries go out (`rooms_ready`). Logout or a
lost gateway: deliveries wait. A room joined, left or renamed: read the list again and publish
the event. A message someone wrote: to `bridge.incoming`. The room list is read again while
logged in until it succeeds; one refresh runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bridge.chat import ConnectionProblem, IncomingMessage, LoginState, RoomChange, WeChatEvent, WeChatRoom
from bridge.errors import SendError
from bridge.homeassistant import HomeAssistant
from bridge.pipeline.runtime import LiveRuntime
from bridge.reactions.incoming import IncomingMessages
from bridge.reporting import payloads as reports
from bridge.reporting.status import BridgeStatus
from bridge.wechat.rooms import RoomDirectory

log = logging.getLogger(__name__)

ROOM_REFRESH_RETRY_SECONDS = 2.0


class RoomSource(Protocol):
    """The WeChat session as seen here: its login state and the account's room list."""

    @property
    def state(self) -> LoginState: ...

    async def rooms(self) -> list[WeChatRoom]: ...


class WeChatEvents:
    def __init__(self, *, wechat: RoomSource, live: LiveRuntime, directory: RoomDirectory, status: BridgeStatus,
                 homeassistant: HomeAssistant, incoming: IncomingMessages, rooms_ready: asyncio.Event,
                 on_rooms: Callable[[], None],
                 on_login: Callable[[LoginState], Awaitable[None]] | None = None) -> None:
        self._wechat = wechat
        self._live = live
        self._directory = directory
        self._status = status
        self._homeassistant = homeassistant
        self._incoming = incoming
        self._rooms_ready = rooms_ready
        #: Rooms were resolved: the delivery worker looks again.
        self._on_rooms = on_rooms
        #: Told of every login state before the rooms are resolved (the fallback counts what waits).
        self._on_login = on_login
        self._refresh_lock = asyncio.Lock()

    async def on_event(self, event: WeChatEvent) -> None:
        if isinstance(event, LoginState):
            if event.state == "logged_in":
                log.info("WeChat: logged in as %s", event.user.name if event.user else "?")
            elif event.state == "scan":
                log.info("WeChat: waiting for the QR code to be scanned")
            else:
                self._rooms_ready.clear()
                log.info("WeChat: %s%s", event.state.replace("_", " "), f" ({event.reason})" if event.reason else "")
            await self._status.set_login(event)
            await self._homeassistant.on_login(event)
            if self._on_login is not None:
                await self._on_login(event)
            if event.state == "logged_in":
                await self.refresh_rooms()
        elif isinstance(event, RoomChange):
            log.info("WeChat: %s in room %s", event.kind.replace("_", " "), event.room_id)
            await self.refresh_rooms()
            room = next((r for r in self._directory.rooms if r.id == event.room_id), None)
            room_data = {"id": event.room_id, "topic": room.topic if room else None}
            await self._status.event(event.kind, {"room": room_data, **event.data})
        elif isinstance(event, ConnectionProblem):
            await self._status.event("error", {"message": f"WeChat gateway: {event.reason}"})
        elif isinstance(event, IncomingMessage):
            await self._incoming.publish(event)

    async def refresh_rooms(self) -> bool:
        """Re-read the account's rooms and re-resolve every room key; retried while logged in."""
        async with self._refresh_lock:
            while self._wechat.state.state == "logged_in":
                try:
                    rooms = await self._wechat.rooms()
                except SendError as exc:
                    log.warning("cannot read the room list: %s; retrying", exc)
                    await asyncio.sleep(ROOM_REFRESH_RETRY_SECONDS)
                    continue
                self._apply_rooms(rooms)
                await self._status.set_rooms(reports.rooms_body(self._directory.rooms, self._directory.resolutions))
                await self._status.publish_info()
                return True
            return False

    async def reresolve(self) -> None:
        """After a reload: resolve the new room keys against the room list already read, if any."""
        if self._directory.rooms or self._wechat.state.state == "logged_in":
            self._apply_rooms(self._directory.rooms)
            await self._status.set_rooms(reports.rooms_body(self._directory.rooms, self._directory.resolutions))

    def _apply_rooms(self, rooms: list[WeChatRoom]) -> None:
        resolutions = self._directory.update(rooms, self._live.current.rooms)
        found = sum(1 for r in resolutions.values() if r.room is not None)
        log.info("WeChat: %d of %d configured rooms resolved (%d rooms in the account)",
                 found, len(resolutions), len(rooms))
        for resolution in resolutions.values():
            if resolution.problem:
                log.warning("%s", resolution.problem)
        self._rooms_ready.set()
        self._on_rooms()

"""What the bridge does when an official bot (iLink) changes: a person wrote, a window or budget
moved, a session expired, a QR login is waiting.

- Each person's state goes to `<base>/bridge/ilink/<name>` (retained), with what waits for them in
  the outbox, and on to the status page and Home Assistant through the status topics.
- The delivery worker is woken: a message from the person reopens their window.
- What the person wrote goes to `<base>/rooms/<key>/message` when their room listens.
- The fallback hears one account state: logged in while every transport in use is; else the first
  that is not, with its reason and QR code, so an expired session raises the logout alert with the
  QR of the new login. Without a gateway, that state is also `<base>/bridge/login`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bridge.chat import IlinkState, IncomingMessage, LoginState
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.pipeline.runtime import LiveRuntime
from bridge.reactions.incoming import IncomingMessages
from bridge.reporting import payloads as reports
from bridge.reporting.status import BridgeStatus
from bridge.tasks import wake_loop

if TYPE_CHECKING:  # built only when a room names a person
    from bridge.wechat.official import OfficialBots
from bridge.wechat.rooms import RoomDirectory

log = logging.getLogger(__name__)

#: The window's end and the rate limit's pause move with time, not with events: look again this often.
REFRESH_SECONDS = 30.0
#: Past the end of a window, so that the state published then says it is closed.
WINDOW_END_MARGIN_SECONDS = 0.05


class OfficialReactions:
    """`changed()` from the bots; `run()` publishes what changed (the app's task "ilink-status")."""

    def __init__(self, *, bots: OfficialBots, live: LiveRuntime, store: OutboxRunner, status: BridgeStatus,
                 incoming: IncomingMessages,
                 on_login: Callable[[LoginState], Awaitable[None]] | None, gateway_used: bool,
                 account: Callable[[LoginState], None], directory: RoomDirectory,
                 clock: Callable[[], float] = time.time) -> None:
        self._bots = bots
        self._live = live
        self._store = store
        self._status = status
        self._incoming = incoming
        self._on_login = on_login
        self._gateway_used = gateway_used
        self._account_set = account
        self._directory = directory
        self._clock = clock
        self._wake = asyncio.Event()
        self._gateway = LoginState("connecting")
        self._told: LoginState | None = None

    def changed(self) -> None:
        """Something about a bot, or what waits for it, changed: publish it."""
        self._wake.set()

    async def message(self, name: str, message: IncomingMessage) -> None:
        """What a person wrote to their bot (its window is renewed already: the bot wakes the worker)."""
        log.info("official bot %s: a message from them renews the reply window", name)
        await self._incoming.publish(message)

    async def gateway_login(self, state: LoginState) -> None:
        """The gateway's login state (`WeChatEvents`), combined with the bots' for the fallback."""
        self._gateway = state
        await self._tell(self._account(list(self._status.ilink.values())))

    async def start(self) -> None:
        """Without a gateway, nothing else resolves the rooms or lists them: the bots' rooms need no lookup."""
        if not self._gateway_used:
            await self.reloaded()

    async def reloaded(self) -> None:
        if self._gateway_used:
            return  # the gateway's login resolves every room, the bots' with them
        self._directory.update([], self._live.current.rooms)
        rooms = [r.room for r in self._directory.resolutions.values() if r.room is not None]
        await self._status.set_rooms(reports.rooms_body(rooms, self._directory.resolutions))
        self.changed()

    async def run(self) -> None:
        await self._bots.started.wait()  # else the people bound would show as not bound for a moment
        await self.start()
        await wake_loop(self.publish, wake=self._wake, what="official bot status", log=log, unexpected=True,
                        retry_after=REFRESH_SECONDS)

    async def publish(self) -> float:
        waiting: dict[str, int] = {}
        rooms = self._live.current.rooms
        for key, count in (await self._store.run(Outbox.pending_by_room)).items():
            room = rooms.get(key)
            if room is not None and room.ilink is not None:
                waiting[room.ilink] = waiting.get(room.ilink, 0) + count
        states = self._bots.states(self._clock(), waiting)
        for state in states:
            await self._status.set_ilink(state)
        await self._tell(self._account(states))
        # Published again when a window ends by our estimate, so its state is right when it moves.
        now = self._clock()
        ends = [s.window_until - now for s in states if s.window_until is not None and s.window_until > now]
        return min([REFRESH_SECONDS, *(end + WINDOW_END_MARGIN_SECONDS for end in ends)])

    def _account(self, states: list[IlinkState]) -> LoginState:
        """One state for the fallback: logged in while every transport in use is."""
        if self._gateway_used and self._gateway.state != "logged_in":
            return self._gateway
        for state in states:
            if state.state != "logged_in":
                return LoginState("scan" if state.state == "scan" else "logged_out",
                                  reason=f"official bot {state.name}: {state.reason}", qrcode=state.qr)
        return self._gateway if self._gateway_used else LoginState("logged_in")

    async def _tell(self, account: LoginState) -> None:
        if account == self._told:
            return
        self._told = account
        if not self._gateway_used:
            self._account_set(account)
            await self._status.set_login(account)
        if self._on_login is not None:
            await self._on_login(account)

"""The bridge's retained status topics: state, login, rooms and info, kept and re-published.

The broker forgets retained messages it was not told to persist, and a client that subscribes
later must still see where the bridge stands: so the latest value of each is kept here and
published again after every broker (re)connect.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.chat import IlinkState, LoginState, qr_url
from bridge.events import Publication
from bridge.metrics import Metrics
from bridge.reporting import payloads as reports
from bridge.topics import Topics

log = logging.getLogger(__name__)

#: `bridge/info` carries the uptime; published again this often so a dashboard shows it moving.
INFO_INTERVAL_SECONDS = 60.0

Publish = Callable[[Publication], Awaitable[object]]
InfoSource = Callable[[], Awaitable[dict[str, Any]]]


class BridgeStatus:
    def __init__(self, *, topics: Topics, publish: Publish, info: InfoSource, metrics: Metrics | None = None,
                 on_change: Callable[[], None] = lambda: None, ilink: dict[str, IlinkState] | None = None) -> None:
        self._topics = topics
        self._publish = publish
        self._info = info
        self._metrics = metrics or Metrics()
        self._on_change = on_change
        self.login = LoginState("connecting")
        #: When the login entered its current state (epoch seconds), and the last logout: (when, why).
        self.login_since = time.time()
        self.last_logout: tuple[float, str | None] | None = None
        self._rooms: list[dict[str, Any]] | None = None
        #: Each person's official bot as last published (`<base>/bridge/ilink/<name>`); the root
        #: hands the same mapping to `bridge/info`.
        self.ilink: dict[str, IlinkState] = ilink if ilink is not None else {}

    async def replay(self) -> None:
        """Everything retained, again: called after each broker connect."""
        await self._publish(reports.state_publication(self._topics, "online"))
        await self._publish(reports.login_publication(self._topics, self.login))
        if self._rooms is not None:
            await self._publish(reports.rooms_publication(self._topics, self._rooms))
        for state in self.ilink.values():
            await self._publish(reports.ilink_publication(self._topics, state))
        await self.publish_info()

    async def set_login(self, state: LoginState) -> None:
        previous, self.login = self.login, state
        if state.state != previous.state:
            self.login_since = time.time()
        logged_out = previous.state == "logged_in" and state.state != "logged_in"
        if logged_out:
            self.last_logout = (self.login_since, state.reason)
        self._metrics.login(state.state, logged_out=logged_out)
        self._on_change()
        await self._publish(reports.login_publication(self._topics, state))
        if state.state == "logged_in" and state.user is not None:
            await self.event("login", {"user": {"id": state.user.id, "name": state.user.name}})
        elif previous.state == "logged_in":
            await self.event("logout", {"reason": state.reason})
        if state.state == "scan" and state.qrcode:
            _print_qr(state.qrcode)
        await self.publish_info()

    async def set_ilink(self, state: IlinkState) -> None:
        """A person's official bot changed (login, window, budget, what waits): retained, and shown."""
        if self.ilink.get(state.name) == state:
            return
        self.ilink[state.name] = state
        self._on_change()
        await self._publish(reports.ilink_publication(self._topics, state))
        await self.publish_info()  # its `ilink` object says the same

    async def set_rooms(self, body: list[dict[str, Any]]) -> None:
        if body == self._rooms:
            return
        self._rooms = body
        self._on_change()
        await self._publish(reports.rooms_publication(self._topics, body))

    @property
    def rooms(self) -> list[dict[str, Any]] | None:
        return self._rooms

    async def publish_info(self) -> None:
        await self._publish(reports.info_publication(self._topics, await self._info()))

    async def refresh_info(self) -> None:
        """Publish `bridge/info` again every `INFO_INTERVAL_SECONDS`, until cancelled."""
        while True:
            await asyncio.sleep(INFO_INTERVAL_SECONDS)
            await self.publish_info()

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        await self._publish(reports.event_publication(self._topics, kind, data))


def _print_qr(qrcode_data: str) -> None:
    """The login QR as text on the terminal, for a user who only has `docker logs`."""
    import qrcode

    url = qr_url(qrcode_data)
    log.warning("WeChat: scan this QR code with the WeChat app to log in (or open %s)", url)
    code = qrcode.QRCode(border=1)
    code.add_data(qrcode_data)
    code.print_ascii(out=sys.stderr)
    sys.stderr.flush()

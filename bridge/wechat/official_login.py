"""A QR login the bridge runs itself, for the status page: what the person sees and answers.

`LoginPrompts` is the `ilink.login.LoginUi` of a login run inside the bridge: each step becomes the
person's `IlinkState` (`scan` with the QR code, "scanned: confirm on the phone", a number asked
for), which goes to `<base>/bridge/ilink/<name>`, the page and the fallback's logout alert, and
the number typed on the status page comes back through `give_verify_code`. Two logins use it:

- `OfficialBot.relogin`, for a person bound already (after a second errcode -14, or started from
  the page): the new credentials replace the old ones in place.
- `FirstLogin`, for a person not bound yet (started from the page): it stores the credentials as
  `ilink login` does, and `OfficialBots.sync` starts their bot from them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bridge.chat import IlinkState
from bridge.wechat.ilink.api import IlinkClient, Session
from bridge.wechat.ilink.credentials import CredentialStore
from bridge.wechat.ilink.errors import LoginFailed
from bridge.wechat.ilink.login import AlreadyBound, qr_login
from bridge.wechat.ilink.models import QrCode

log = logging.getLogger(__name__)


class LoginPrompts:
    """The steps of a QR login as the person's state; `give_verify_code` answers the number asked for."""

    name: str
    state: IlinkState
    _on_change: Callable[[], None]
    #: " again" for a person bound before: the sentence under the QR code says so.
    _again = " again"
    _verify: asyncio.Future[str] | None = None

    async def show_qr(self, qr: QrCode, *, attempt: int, attempts: int) -> None:
        reason = (f"scan the QR code with {self.name}'s WeChat to log the official bot in{self._again} "
                  f"(code {attempt} of {attempts})")
        self.state = IlinkState(name=self.name, state="scan", qr=qr.url, reason=reason)
        self._on_change()

    async def scanned(self) -> None:
        self.state = IlinkState(name=self.name, state="scan", qr=self.state.qr,
                                reason="scanned: confirm the login on the phone")
        self._on_change()

    async def ask_verify_code(self, *, retry: bool) -> str:
        again = "that number was wrong: " if retry else ""
        self.state = IlinkState(name=self.name, state="scan", qr=self.state.qr, asks_code=True,
                                reason=f"{again}enter the number the phone shows (status page)")
        self._verify = asyncio.get_running_loop().create_future()
        self._on_change()
        try:
            return await self._verify
        finally:
            self._verify = None

    def give_verify_code(self, code: str) -> bool:
        """The number from the phone, typed on the status page; False when none is asked for."""
        if self._verify is None or self._verify.done():
            return False
        self._verify.set_result(code)
        return True


class FirstLogin(LoginPrompts):
    """A QR login, started from the status page, for a person not bound yet; `task` runs it."""

    _again = ""

    def __init__(self, *, name: str, store: CredentialStore, base_url: str, session: Session,
                 on_change: Callable[[], None], on_bound: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._store = store
        self._base_url = base_url
        self._session = session
        self._on_change = on_change
        self._on_bound = on_bound
        self._clock = clock
        self.state = IlinkState(name=name, state="scan", reason="asking iLink for a QR code")
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def run(self) -> None:
        client = IlinkClient(session=self._session, base_url=self._base_url)
        try:
            bound = await qr_login(client, self, local_tokens=self._store.local_tokens())
            if isinstance(bound, AlreadyBound):
                self.state = IlinkState(name=self.name, state="logged_out",
                                        reason="this WeChat is already bound to the bridge's bot under another name: "
                                               "`wechat-mqtt-bridge ilink list` shows who")
                return
            self._store.save(bound.credentials(self.name, bound_at=self._clock()))
            self.state = IlinkState(name=self.name, state="logged_in",
                                    reason=f"bound; a room with `ilink: {self.name}` sends to them")
            log.info("official bot %s: bound from the status page", self.name)
            self._on_bound()
        except LoginFailed as exc:
            self.state = IlinkState(name=self.name, state="logged_out", reason=f"the QR login failed: {exc}")
            log.warning("official bot %s: the QR login failed: %s", self.name, exc)
        finally:
            self._on_change()

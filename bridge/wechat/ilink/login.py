"""The QR login, status by status as `waitForWeixinLogin` in Tencent's src/auth/login-qr.ts.

    wait                 keep polling (a timeout or a network error of the poll reads as wait too)
    scaned               the phone scanned it: say so once; a verify code sent with the poll was right
    need_verifycode      ask for the number the phone shows, send it with the next poll at once
                         (asked again, `retry=True`, when the server asks again: the number was wrong)
    verify_code_blocked  wrong numbers too often: a fresh QR code, or give up after `max_qr` codes
    expired              a fresh QR code, or give up after `max_qr` codes (Tencent: 3 in all)
    scaned_but_redirect  poll `redirect_host` from now on (https://<redirect_host> in Tencent's client)
    binded_redirect      this bot is already bound here: `AlreadyBound`, nothing new to store
    confirmed            `Bound`: token, the `baseurl` for that person's later calls, bot id, user id

Between two polls Tencent's client waits 1 s (not after a verify code). The whole login has 480 s.
The UI is injected (`LoginUi`): the CLI prints, the status page shows; tests answer at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bridge.errors import SendError
from bridge.wechat.ilink.api import QR_POLL_SECONDS, IlinkClient
from bridge.wechat.ilink.credentials import Credentials
from bridge.wechat.ilink.errors import LoginFailed, LoginFailure
from bridge.wechat.ilink.models import QrCode, QrState

#: MAX_QR_REFRESH_COUNT of login-qr.ts: the first code and two fresh ones.
MAX_QR_CODES = 3
#: The default `timeoutMs` of waitForWeixinLogin.
LOGIN_SECONDS = 480.0
#: The pause between two polls in login-qr.ts; the poll itself is a long poll.
POLL_PAUSE_SECONDS = 1.0


class LoginUi(Protocol):
    """What the person sees and answers during a login."""

    async def show_qr(self, qr: QrCode, *, attempt: int, attempts: int) -> None:
        """Show `qr.url` as a QR code and as text (a fresh code has a higher `attempt`)."""

    async def scanned(self) -> None:
        """The phone scanned the code; the person confirms there."""

    async def ask_verify_code(self, *, retry: bool) -> str:
        """The number the phone shows; `retry` when the last one was wrong."""


@dataclass(frozen=True, slots=True)
class Bound:
    """`confirmed`: what to store for this person (credentials.Credentials)."""

    token: str = field(repr=False)
    base_url: str
    bot_id: str
    user_id: str

    def credentials(self, name: str, *, bound_at: float) -> Credentials:
        """What to store for the person called `name` (CredentialStore.save)."""
        return Credentials(name=name, token=self.token, base_url=self.base_url, bot_id=self.bot_id,
                           user_id=self.user_id, bound_at=bound_at)


@dataclass(frozen=True, slots=True)
class AlreadyBound:
    """`binded_redirect`: the person's bot is already bound here; the stored credentials stay valid."""


def https_host(host: str) -> str:
    """The base URL Tencent's client polls after scaned_but_redirect."""
    return f"https://{host}"


async def qr_login(
    client: IlinkClient,
    ui: LoginUi,
    *,
    local_tokens: Sequence[str] = (),
    redirect_base: Callable[[str], str] = https_host,
    max_qr: int = MAX_QR_CODES,
    within: float = LOGIN_SECONDS,
    poll_pause: float = POLL_PAUSE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Bound | AlreadyBound:
    """Log one bot in with `client` (no token; its base URL is where QR codes come from).

    Raises LoginFailed (its `reason` says how it ended) when no bot came of it.
    """
    deadline = clock() + within
    attempt = 1
    qr = await _new_qr(client, ui, local_tokens, attempt, max_qr)
    poll_base: str | None = None  # after scaned_but_redirect: the host the login continues on
    verify_code: str | None = None
    said_scanned = False

    while clock() < deadline:
        status = await client.get_qrcode_status(qr.qrcode, verify_code=verify_code, base_url=poll_base,
                                                poll_seconds=max(min(QR_POLL_SECONDS, deadline - clock()), 0.1))
        match status.state:
            case QrState.WAIT:
                pass
            case QrState.SCANED:
                verify_code = None  # the number sent with this poll was right
                if not said_scanned:
                    await ui.scanned()
                    said_scanned = True
            case QrState.NEED_VERIFYCODE:
                verify_code = await ui.ask_verify_code(retry=verify_code is not None)
                continue  # Tencent's client polls again at once with the number
            case QrState.EXPIRED | QrState.VERIFY_CODE_BLOCKED:
                verify_code = None
                attempt += 1
                if attempt > max_qr:
                    raise _gave_up(status.state, max_qr)
                qr = await _new_qr(client, ui, local_tokens, attempt, max_qr)
                # A fresh code comes from the first host; we poll it there (Tencent's client keeps
                # polling the redirected host; the redirect came with the old code's scan).
                poll_base = None
                said_scanned = False
            case QrState.SCANED_BUT_REDIRECT:
                if status.redirect_host:
                    poll_base = redirect_base(status.redirect_host)
            case QrState.BINDED_REDIRECT:
                return AlreadyBound()
            case QrState.CONFIRMED:
                if not status.bot_id or not status.bot_token:
                    raise LoginFailed("WeChat confirmed the login but sent no bot id or token; "
                                      "try `ilink login` again", reason=LoginFailure.INCOMPLETE)
                return Bound(token=status.bot_token, base_url=status.base_url or client.base_url,
                             bot_id=status.bot_id, user_id=status.user_id or "")
        await sleep(poll_pause)
    raise LoginFailed(f"nobody finished the login within {within:g} s; run `ilink login` again",
                      reason=LoginFailure.TIMED_OUT)


async def _new_qr(client: IlinkClient, ui: LoginUi, local_tokens: Sequence[str], attempt: int,
                  max_qr: int) -> QrCode:
    try:
        qr = await client.get_bot_qrcode(local_tokens=local_tokens)
    except SendError as exc:
        raise LoginFailed(f"could not get a login QR code from iLink: {exc}",
                          reason=LoginFailure.QR_UNAVAILABLE) from exc
    await ui.show_qr(qr, attempt=attempt, attempts=max_qr)
    return qr


def _gave_up(state: QrState, max_qr: int) -> LoginFailed:
    if state is QrState.VERIFY_CODE_BLOCKED:
        return LoginFailed("the number from the phone was entered wrong too often; wait a while, then run "
                           "`ilink login` again", reason=LoginFailure.VERIFY_BLOCKED)
    return LoginFailed(f"the QR code expired {max_qr} times without being confirmed; run `ilink login` again "
                       "when the phone is at hand", reason=LoginFailure.EXPIRED)

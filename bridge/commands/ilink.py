"""`ilink login`, `ilink list` and `ilink logout`: binding people to the official WeChat bot.

`login --name alice` fetches a QR code from iLink, prints it in the terminal and as a URL, follows
the scan (a redirect to another host, the number the phone shows, a fresh code when one expires)
and stores what the confirmed login returns: one file per person, mode 0600, in
`ilink.credentials` (default: the `ilink` folder beside the outbox). Nothing here prints a token.
A running bridge picks a new binding up within a few seconds.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

from bridge.config.models import Config
from bridge.wechat.ilink.api import IlinkClient, new_session
from bridge.wechat.ilink.credentials import CredentialStore, check_name
from bridge.wechat.ilink.login import AlreadyBound, qr_login
from bridge.wechat.ilink.models import QrCode

Ask = Callable[[str], str]


class TerminalLogin:
    """The login's `LoginUi` on a terminal: the QR as text, questions on standard input."""

    def __init__(self, *, name: str, ask: Ask, out: Callable[[str], None]) -> None:
        self._name = name
        self._ask = ask
        self._out = out

    async def show_qr(self, qr: QrCode, *, attempt: int, attempts: int) -> None:
        import qrcode

        fresh = f" (a fresh code, {attempt} of {attempts})" if attempt > 1 else ""
        self._out(f"Scan this QR code with {self._name}'s WeChat{fresh}, or open {qr.url}")
        code = qrcode.QRCode(border=1)
        code.add_data(qr.url)
        code.print_ascii(out=sys.stdout)
        sys.stdout.flush()

    async def scanned(self) -> None:
        self._out("Scanned: confirm the login on the phone.")

    async def ask_verify_code(self, *, retry: bool) -> str:
        prompt = "That number was wrong. " if retry else ""
        return await asyncio.to_thread(self._ask, f"{prompt}Enter the number the phone shows: ")


async def login(config: Config, name: str, *, ask: Ask = input, out: Callable[[str], None] = print) -> bool:
    """Bind `name`; True when its credentials are stored (or were already)."""
    check_name(name)
    store = CredentialStore(config.ilink_credentials)
    async with new_session() as session:
        client = IlinkClient(session=session, base_url=config.ilink.base_url)
        bound = await qr_login(client, TerminalLogin(name=name, ask=ask, out=out), local_tokens=store.local_tokens())
    if isinstance(bound, AlreadyBound):
        out(f"{name}'s WeChat is already bound to this bridge's bot: nothing changed.")
        return store.load(name) is not None
    store.save(bound.credentials(name, bound_at=time.time()))
    out(f"Bound {name} to the official WeChat bot; credentials in {store.directory} (mode 0600).")
    out(f"Now {name} writes anything to the bot in WeChat: it may answer within the reply window "
        f"({config.ilink.window / 3600:g} h after their last message), up to {config.ilink.per_message} "
        "messages per message they send.")
    return True


def listing(config: Config, now: float, path: str = "FILE") -> list[str]:
    """A line per bound person: when bound, which rooms name them, when they last wrote, what remains."""
    store = CredentialStore(config.ilink_credentials)
    named = {person: [key for key, room in config.rooms.items() if room.ilink == person]
             for person in config.ilink_people}
    lines = []
    for credentials in store.all():
        cursor = store.load_cursor(credentials.name)
        rooms = ", ".join(named.get(credentials.name, [])) or "no room names them"
        if cursor.last_inbound_at is None:
            window = "has not written to the bot yet"
        elif now - cursor.last_inbound_at >= config.ilink.window:
            window = f"last wrote {_ago(now - cursor.last_inbound_at)} ago: the reply window is closed"
        else:
            left = max(config.ilink.per_message - cursor.spent, 0)
            window = f"last wrote {_ago(now - cursor.last_inbound_at)} ago: {left} of {config.ilink.per_message} left"
        bound = time.strftime("%Y-%m-%d %H:%M", time.localtime(credentials.bound_at))
        lines.append(f"{credentials.name}: bound {bound}; rooms: {rooms}; {window}")
    for person in config.ilink_people:
        if store.load(person) is None:
            lines.append(f"{person}: NOT BOUND (rooms: {', '.join(named[person])}); "
                         f"run: wechat-mqtt-bridge ilink login --config {path} --name {person}")
    return lines


def logout(config: Config, name: str) -> bool:
    """Forget `name`'s credentials and cursor; False when nobody was bound by that name."""
    return CredentialStore(config.ilink_credentials).forget(check_name(name))


def unbound(config: Config) -> list[str]:
    """The people rooms name who are not bound here: `check` refuses the config for them."""
    store = CredentialStore(config.ilink_credentials)
    return [person for person in config.ilink_people if store.load(person) is None]


def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

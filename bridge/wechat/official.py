"""The official WeChat bot (ClawBot, over iLink) for each bound person: their poll, window, budget and sends.

A room with `ilink: alice` is alice's chat with her own bot, bound by `ilink login --name alice`
(credentials in `ilink.credentials`, one file each). For each person the rooms name, `OfficialBot`
keeps the client, the long poll (`ilink.poller`) and the window (`ilink.window`):

- A send goes only while the window is open (the person wrote within `ilink.window`, and their
  last message's budget, `ilink.per_message`, is not spent). Otherwise it is not attempted: it
  raises `PersonWaits` (a `GatewayUnavailable`), so the delivery waits in the outbox without
  spending an attempt; the worker skips the room until the window opens (`Openings`).
- Each accepted request spends one of the budget, and the count survives a restart (the cursor
  file). A send that leaves `ilink.nudge_at` or fewer ends with one line saying how many remain
  and that any reply renews them.
- The server is trusted over our estimate: ret=-2 closes the window until the person writes,
  "rate limited" backs off (growing, capped), errcode -14 pauses every call for `ilink.stale_pause`
  and makes the person `logged_out`; a second -14 after the pause means a new QR login is needed,
  which the bridge starts itself, so the QR reaches the status page, the retained state topic and
  the fallback's logout alert.
- A QR login can also be started from the status page (`OfficialBots.start_login`): a bound
  person's bot logs in again (`relogin`), anyone else gets a `FirstLogin` that stores their
  credentials as `ilink login` does; the steps the person sees and the number the phone shows go
  through `official_login.LoginPrompts`, the same for both.
- What the person writes goes to `on_message` (`<base>/rooms/<key>/message` when the room listens),
  and renews the window: the worker is woken (`on_change`) to send what waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from bridge.chat import IlinkState, IncomingMessage
from bridge.config.models import IlinkSettings
from bridge.errors import GatewayUnavailable, SendError
from bridge.i18n import Texts
from bridge.wechat.ilink import cdn
from bridge.wechat.ilink.api import IlinkClient, Session, new_session
from bridge.wechat.ilink.credentials import Credentials, CredentialStore, Cursor, check_name
from bridge.wechat.ilink.errors import LoginFailed
from bridge.wechat.ilink.login import AlreadyBound, qr_login
from bridge.wechat.ilink.models import InboundMessage
from bridge.wechat.ilink.poller import Poller
from bridge.wechat.ilink.text import split_text
from bridge.wechat.ilink.window import Gate, Remaining, Window, WindowPolicy
from bridge.wechat.official_login import FirstLogin, LoginPrompts
from bridge.wechat.rooms import ilink_room_id

log = logging.getLogger(__name__)

#: How often the folder of credentials is looked at for people bound (or forgotten) meanwhile.
CREDENTIALS_CHECK_SECONDS = 2.0
#: Extensions WeChat shows inline as a picture; other attachments go as files.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")

Changed = Callable[[], None]
OnMessage = Callable[[str, IncomingMessage], Awaitable[None]]


class PersonWaits(GatewayUnavailable):
    """The bot may not write to this person now; nothing was sent. `gate` says why."""

    def __init__(self, message: str, *, name: str, gate: Gate) -> None:
        super().__init__(message)
        self.name = name
        self.gate = gate


#: Why the bot may not write now, for a report's reason and the page (the gate -> the sentence).
_WHY = {
    Gate.NEVER: "{name} has not written to the official bot yet: it may write only after a message from them",
    Gate.REFUSED: "WeChat refused the bot's last message to {name} (its reply window is closed); any reply renews it",
    Gate.WINDOW_CLOSED: "{name} last wrote to the bot more than the reply window ago; any reply renews it",
    Gate.BUDGET_SPENT: ("the {per_message} messages the bot may send per message from {name} are used up; "
                        "any reply renews them"),
    Gate.RATE_LIMITED: "WeChat asked the bot to slow down; it tries {name} again at {at}",
    Gate.PAUSED: "the bot's session for {name} expired (errcode -14); no call until {at}",
}


def why(name: str, left: Remaining, per_message: int) -> str:
    """The sentence for a closed window, in the words a person reading a report or the page needs."""
    return _WHY.get(left.gate, "").format(name=name, per_message=per_message, at=_clock(left.retry_at))


def _clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "later"


class OfficialBot(LoginPrompts):
    """One bound person's bot. The poller's events (`PollEvents`) and the sends meet here."""

    def __init__(self, *, credentials: Credentials, store: CredentialStore, settings: IlinkSettings,
                 session: Session, texts: Callable[[], Texts], on_change: Changed,
                 on_message: OnMessage, rebound: Callable[[OfficialBot], None] = lambda bot: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = credentials.name
        self._rebound = rebound
        self.credentials = credentials
        self._store = store
        self._settings = settings
        self._session = session
        self._texts = texts
        self._on_change = on_change
        self._on_message = on_message
        self._clock = clock
        cursor = store.load_cursor(self.name)
        policy = WindowPolicy(window_seconds=settings.window, per_message=settings.per_message,
                              stale_pause_seconds=settings.stale_pause)
        self.window = Window(policy=policy, context_token=cursor.context_token,
                             last_inbound_at=cursor.last_inbound_at, spent=cursor.spent)
        self.client = self._client(credentials)
        self.state: IlinkState = IlinkState(name=self.name, state="logged_in")
        self._expiries = 0
        self._lock = asyncio.Lock()  # one send at a time per person: the budget is counted per request
        #: The QR login the bridge runs itself after a second errcode -14, and its verify code.
        self.login: asyncio.Task[None] | None = None
        self._verify: asyncio.Future[str] | None = None

    def _client(self, credentials: Credentials) -> IlinkClient:
        return IlinkClient(session=self._session, base_url=credentials.base_url, token=credentials.token)

    def poller(self) -> Poller:
        return Poller(client=self.client, store=self._store, name=self.name, window=self.window, events=self,
                      clock=self._clock)

    def remaining(self, now: float) -> Remaining:
        if self.state.state != "logged_in":
            return Remaining(gate=Gate.PAUSED, budget=0, window_until=None, retry_at=None, context_token=None)
        return self.window.remaining(now)

    def snapshot(self, now: float, waiting: int) -> IlinkState:
        """What `<base>/bridge/ilink/<name>` says now."""
        left = self.window.remaining(now)
        reason = self.state.reason
        if self.state.state == "logged_in" and not left.open:
            reason = why(self.name, left, self._settings.per_message)
        return IlinkState(name=self.name, state=self.state.state, window_until=left.window_until,
                          budget=left.budget if self.state.state == "logged_in" else None, waiting=waiting,
                          qr=self.state.qr, reason=reason, asks_code=self.state.asks_code)

    # --- sending ---------------------------------------------------------------------------

    async def send_text(self, text: str) -> str:
        """Send `text` (in parts at iLink's limit, each costing one of the budget); the last part
        carries the nudge when few sends remain. Raises `SendError` (`PersonWaits`: not sent)."""
        parts = split_text(text)
        async with self._lock:
            for index, part in enumerate(parts):
                left = self._open()
                nudge = self._nudge(left.budget - 1) if index == len(parts) - 1 else ""
                await self._spend(self.client.send_text(to_user_id=self.credentials.user_id, text=part + nudge,
                                                        context_token=left.context_token))
        return ""

    async def send_file(self, name: str, data: bytes) -> str:
        """An image (shown inline) or a file, through the CDN the way Tencent's client sends it."""
        async with self._lock:
            left = self._open()
            to, token, base = self.credentials.user_id, left.context_token, self._settings.cdn_base_url
            if name.lower().endswith(IMAGE_SUFFIXES):
                send = cdn.send_image(self.client, to_user_id=to, data=data, context_token=token, cdn_base_url=base)
            else:
                send = cdn.send_file(self.client, to_user_id=to, data=data, file_name=name, context_token=token,
                                     cdn_base_url=base)
            await self._spend(send)
        return ""

    def _open(self) -> Remaining:
        left = self.remaining(self._clock())
        if not left.open:
            reason = self.state.reason if self.state.state != "logged_in" else None
            raise PersonWaits(reason or why(self.name, left, self._settings.per_message), name=self.name,
                              gate=left.gate)
        return left

    async def _spend(self, request: Awaitable[object]) -> None:
        try:
            await request
        except SendError as exc:
            self.window.learn(exc, self._clock())
            self._on_change()
            raise
        self.window.spend(1)
        self._store.update_cursor(self.name, spent=self.window.spent)
        self._on_change()

    def _nudge(self, left_after: int) -> str:
        """The line that ends a message when few sends remain (`ilink.nudge_at`)."""
        if left_after > self._settings.nudge_at or self._settings.nudge_at == 0:
            return ""
        texts = self._texts()
        if left_after <= 0:
            return "\n\n" + texts.gettext("(That was the last message I can send until you reply. "
                                          "Reply anything to receive what comes next.)")
        return "\n\n" + texts.gettext("(I can send you {count} more; reply anything to renew them.)").format(
            count=left_after)

    # --- what the poll says (ilink.poller.PollEvents) --------------------------------------

    async def message(self, message: InboundMessage) -> None:
        self._expiries = 0
        if message.text:
            at = message.create_time_ms / 1000 if message.create_time_ms else self._clock()
            await self._on_message(self.name, IncomingMessage(
                id=message.message_id or f"{self.name}-{at}", room_id=ilink_room_id(self.name),
                from_id=message.from_user_id, from_name=self.name, text=message.text, type="text",
                mentioned_me=True, ts=at))
        self._on_change()

    async def session_expired(self, until: float) -> None:
        self._expiries += 1
        if self.login is not None:
            return  # a QR login is under way: its state stands
        if self._expiries >= 2:
            log.warning("official bot %s: the session is still refused after the pause: a new QR login is needed",
                        self.name)
            self.login = asyncio.create_task(self.relogin(), name=f"ilink-login-{self.name}")
            return
        reason = (f"the official bot's session for {self.name} expired (errcode -14); no call until "
                  f"{_clock(until)}, then it tries again")
        log.warning("official bot %s: %s", self.name, reason)
        self.state = IlinkState(name=self.name, state="logged_out", reason=reason)
        self._on_change()

    async def session_restored(self) -> None:
        self._expiries = 0
        log.info("official bot %s: the session works again", self.name)
        self.state = IlinkState(name=self.name, state="logged_in")
        self._on_change()

    # --- a new QR login, run by the bridge (its steps: official_login.LoginPrompts) ----------

    async def relogin(self) -> None:
        """A QR login for this person; the credentials it gives replace the stored ones."""
        fresh = IlinkClient(session=self._session, base_url=self._settings.base_url)
        before = self.state
        try:
            bound = await qr_login(fresh, self, local_tokens=self._store.local_tokens())
            if not isinstance(bound, AlreadyBound):
                credentials = bound.credentials(self.name, bound_at=self._clock())
                self._store.save(credentials)
                # A new bot: a new conversation, whose window opens when the person writes to it.
                self._store.save_cursor(self.name, Cursor())
                self.window = Window(policy=self.window.policy)
                self.credentials, self.client = credentials, self._client(credentials)
                self._rebound(self)  # poll with the new token now; the old poll stops
            self._expiries = 0
            self.window.session_restored()
            self.state = IlinkState(name=self.name, state="logged_in")
            log.info("official bot %s: logged in again", self.name)
        except LoginFailed as exc:
            log.warning("official bot %s: the QR login failed: %s", self.name, exc)
            self.state = IlinkState(name=self.name, state="logged_out", reason=f"the QR login failed: {exc}")
            if before.state == "logged_in":  # started from the status page: the old session still works
                self.state = before
        except asyncio.CancelledError:
            if before.state == "logged_in":
                self.state = before
            raise
        finally:
            self.login = None
            self._on_change()


class OfficialBots:
    """Every person the rooms name: their bots, polls and logins. `run` until cancelled."""

    def __init__(self, *, settings: IlinkSettings, directory: Path, people: Callable[[], list[str]],
                 texts: Callable[[], Texts], clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self.store = CredentialStore(directory)
        self._people = people
        self._texts = texts
        self._on_change: Changed = _nothing
        self._on_message: OnMessage = _ignore
        self._clock = clock
        self.bots: dict[str, OfficialBot] = {}
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._polling: dict[str, float] = {}  # name -> bound_at of the credentials its poll uses
        self._session: Session | None = None
        #: QR logins started from the status page for people not bound yet, by name.
        self.first_logins: dict[str, FirstLogin] = {}
        #: Set once the credentials were read and the bound people's polls started.
        self.started = asyncio.Event()

    def bot(self, name: str) -> OfficialBot | None:
        return self.bots.get(name)

    def remaining(self, name: str, now: float) -> Remaining | None:
        bot = self.bots.get(name)
        return None if bot is None else bot.remaining(now)

    def states(self, now: float, waiting: dict[str, int]) -> list[IlinkState]:
        """Each person the rooms name, bound or not, with what waits for them; and anyone else
        a login from the status page is for."""
        found = []
        for name in dict.fromkeys([*self._people(), *self.first_logins]):
            bot, first = self.bots.get(name), self.first_logins.get(name)
            if bot is not None:
                found.append(bot.snapshot(now, waiting.get(name, 0)))
            elif first is not None:
                found.append(replace(first.state, waiting=waiting.get(name, 0)))
            else:
                found.append(IlinkState(name=name, state="logged_out", waiting=waiting.get(name, 0),
                                        reason=f"nobody is bound as {name!r}: run `wechat-mqtt-bridge ilink login "
                                               f"--name {name}` or use the status page"))
        return found

    def start_login(self, name: str) -> None:
        """A QR login for `name`, run by the bridge (the status page shows its QR code and asks for
        the number): a bound person's bot logs in again, anyone else is bound as `ilink login` would.
        Nothing new starts while one runs for that name. ValueError when `name` cannot name a person."""
        check_name(name)
        if self._session is None:
            raise RuntimeError("the official bots are not running")
        bot = self.bots.get(name)
        if bot is not None:
            if bot.login is None:
                bot.login = asyncio.create_task(bot.relogin(), name=f"ilink-login-{name}")
            return
        first = self.first_logins.get(name)
        if first is not None and first.running:
            return
        first = FirstLogin(name=name, store=self.store, base_url=self._settings.base_url, session=self._session,
                           on_change=self._on_change, on_bound=self.sync, clock=self._clock)
        self.first_logins[name] = first
        first.task = asyncio.create_task(first.run(), name=f"ilink-login-{name}")
        self._on_change()

    def give_verify_code(self, name: str, code: str) -> bool:
        """The number `name`'s phone shows, for the login waiting on it; False when none waits."""
        prompts: LoginPrompts | None = self.bots.get(name) or self.first_logins.get(name)
        return prompts is not None and prompts.give_verify_code(code)

    async def send_text(self, name: str, text: str) -> str:
        return await self._bot_for(name).send_text(text)

    async def send_file(self, name: str, file_name: str, data: bytes) -> str:
        return await self._bot_for(name).send_file(file_name, data)

    def _bot_for(self, name: str) -> OfficialBot:
        bot = self.bots.get(name)
        if bot is None:
            raise PersonWaits(f"nobody is bound as {name!r} to the official bot: run `wechat-mqtt-bridge ilink "
                              f"login --name {name}`", name=name, gate=Gate.NEVER)
        return bot

    async def run(self, *, on_change: Changed, on_message: OnMessage) -> None:
        """Poll for every bound person until cancelled. The handlers are given at start: the stages
        they reach are built after the bots."""
        self._on_change, self._on_message = on_change, on_message
        async with new_session() as session:
            self._session = session
            try:
                while True:
                    self.sync()
                    self.started.set()
                    await asyncio.sleep(CREDENTIALS_CHECK_SECONDS)
            finally:
                for task in self._polls.values():
                    task.cancel()
                for bot in self.bots.values():
                    if bot.login is not None:
                        bot.login.cancel()
                for first in self.first_logins.values():
                    if first.task is not None:
                        first.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*self._polls.values(), return_exceptions=True)

    def sync(self) -> None:
        """Start a bot for each person the rooms name who is bound (or bound anew), stop the others."""
        assert self._session is not None
        wanted, changed = set(self._people()), False
        for name, bot in list(self.bots.items()):
            credentials = self.store.load(name) if name in wanted else None
            if credentials is None or credentials.bound_at != bot.credentials.bound_at:
                self._stop(name)  # forgotten, no room names them, or bound anew by `ilink login`
                changed = True
            elif credentials.bound_at != self._polling[name]:
                self._poll(bot)  # the bridge's own QR login gave a new token: poll with it
        for name in sorted(wanted - set(self.bots)):
            credentials = self.store.load(name)
            if credentials is None:
                continue
            bot = OfficialBot(credentials=credentials, store=self.store, settings=self._settings,
                              session=self._session, texts=self._texts, on_change=self._on_change,
                              on_message=self._on_message, rebound=self._poll, clock=self._clock)
            self.bots[name] = bot
            self.first_logins.pop(name, None)  # bound from the status page: the bot's state from now on
            self._poll(bot)
            log.info("official bot %s: polling for messages", name)
            changed = True
        if changed:
            self._on_change()

    def _poll(self, bot: OfficialBot) -> None:
        old = self._polls.pop(bot.name, None)
        if old is not None:
            old.cancel()
        self._polls[bot.name] = asyncio.create_task(bot.poller().run(), name=f"ilink-poll-{bot.name}")
        self._polling[bot.name] = bot.credentials.bound_at

    def _stop(self, name: str) -> None:
        task = self._polls.pop(name, None)
        if task is not None:
            task.cancel()
        bot = self.bots.pop(name, None)
        if bot is not None and bot.login is not None:
            bot.login.cancel()
        self._polling.pop(name, None)


def _nothing() -> None:
    """The change handler until `run` gives one."""


async def _ignore(name: str, message: IncomingMessage) -> None:
    """The message handler until `run` gives one."""

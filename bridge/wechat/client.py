"""The one logged-in WeChat account, reached through a wechaty puppet-service gateway.

The protocol is spoken by `bridge.wechaty` (`PuppetLink`, the only module that imports grpc);
this module owns the connection's life: open the event stream, wait for its first heartbeat,
call `Start`, follow the events, and on any end (the gateway closed it, a keepalive ping went
unanswered, a send was cut off) report `logged_out` with the reason, drop the connection and
reconnect with capped backoff: a new link, a new stream and `Start` again.

A send that timed out or was cut off may have reached WeChat: it raises `SendInDoubt`, and the
connection it was made on is dropped at once, so it is never retried there; the outbox decides
when, and whether, to send it again. A send asked for while not connected and logged in raises
`GatewayUnavailable` without being made.

What the gateway can carry (`capabilities`) is declared by `wechaty.puppet`; a file send it
answers UNIMPLEMENTED (`Unsupported`) takes files off for the rest of the connection, so the next
deliveries go out as text without asking again. A new connection starts from the declaration.

Every message in the account's rooms, the bot's own sends included (the gateway echoes them),
arrives as a bare id whose payload costs a call; while no room listens (`listening()` is False)
they are not read at all, which halves the gateway calls during a burst of sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from bridge.chat import (
    Capabilities,
    ConnectionProblem,
    EventHandler,
    IncomingMessage,
    LoginState,
    RoomChange,
    WeChatContact,
    WeChatEvent,
    WeChatRoom,
    WeChatUser,
)
from bridge.config.models import GatewayTlsSettings
from bridge.errors import GatewayUnavailable, SendError, SendInDoubt, Unsupported
from bridge.links import Link
from bridge.metrics import Metrics
from bridge.tasks import Backoff
from bridge.wechat.puppet import LinkTls, PuppetEvent, PuppetLink

log = logging.getLogger(__name__)

#: Reconnect backoff: quick first retry for a gateway restart, capped so an outage is noticed
#: within half a minute of its end without hammering a gateway that is down.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
#: How long a new connection may take to deliver the event stream's first heartbeat.
CONNECT_TIMEOUT_SECONDS = 10.0
#: Deadline of the calls that only read (payloads, room lists).
READ_TIMEOUT_SECONDS = 10.0
#: A logout this soon after the login is WeChat refusing the session, not a person logging out:
#: what wechat4u's web/UOS logins have met since 2025-01-09 (wechaty/wechaty#2774).
FORCED_LOGOUT_SECONDS = 60.0
#: wechat4u's own sign of it: an assertion on the `batchGetContact` answer (`1101 == 0`, `'1102' == 0`).
FORCED_LOGOUT_SIGNS = re.compile(r"(?:'?110[12]'?\s*==\s*0)")
#: What `bridge/login` says then, for a person deciding what to do next.
FORCED_LOGOUT = ("WeChat refused the puppet's web login, as it has for web/UOS logins since January 2025: "
                 "use the official bot (rooms with `ilink:`) or another gateway; see README.md, "
                 "\"Getting WeChat online\"")
#: What WeChat puts between a mention and the text (U+2005, four-per-em space), as `Room.say` does.
MENTION_SEPARATOR = "\u2005"
T = TypeVar("T")


class WeChatClient:
    """Keeps one bot connected and logged-in state known; sends texts to rooms by id."""

    def __init__(self, *, endpoint: str, token: str, send_timeout: float, on_event: EventHandler | None = None,
                 listening: Callable[[], bool] = lambda: True, tls: LinkTls | None = None,
                 connection: Link | None = None, metrics: Metrics | None = None,
                 backoff: Backoff | None = None, capabilities: Capabilities | None = None) -> None:
        self._endpoint = endpoint
        #: What `wechaty.puppet` declares, and what this connection has shown it lacks on top.
        self._declared = capabilities or Capabilities("the gateway")
        self._capabilities = self._declared
        #: Up while a connection to the gateway stands (logged in or not): for the page and metrics.
        self.connection = connection or Link("gateway")
        self._metrics = metrics or Metrics()
        self._backoff = backoff or Backoff(first=RECONNECT_MIN_SECONDS, cap=RECONNECT_MAX_SECONDS)
        self._listening = listening
        self._token = token
        self._tls = tls
        self._send_timeout = send_timeout
        self._on_event: EventHandler = on_event or _ignore
        self._link: PuppetLink | None = None
        self._state = LoginState("connecting", reason=f"connecting to the gateway at {endpoint}")
        self._logged_in = asyncio.Event()
        self._had_login = False
        #: Why the current connection is being dropped by us (a send cut off), if it is.
        self._drop_reason: str | None = None
        #: The puppet's last error reason logged on this connection since the last login.
        self._puppet_error: str | None = None
        #: When the account last logged in (monotonic), and whether the puppet said WeChat refused it.
        self._logged_in_at: float | None = None
        self._forced = False

    @property
    def state(self) -> LoginState:
        return self._state

    def capabilities(self, room_id: str = "") -> Capabilities:
        """What the gateway carries on this connection: the declaration, less what it refused."""
        return self._capabilities

    async def wait_logged_in(self) -> None:
        await self._logged_in.wait()

    async def run(self, *, on_event: EventHandler | None = None) -> None:
        """Connect, listen, and reconnect for as long as the task lives. `on_event`: the handler of
        what WeChat reports, given at start by the root (the stages it reaches are built after the
        client); a handler given at build (the unit tests) serves when it is None."""
        self._on_event = on_event or self._on_event
        if self._tls is None and not _private(self._endpoint):
            log.warning("WeChat: the gateway at %s is reached in plaintext over a network that is not private: "
                        "the token and every message can be read on the way; set wechaty.tls", self._endpoint)
        await self._emit(self._state)  # "connecting", with its reason, before the first attempt ends
        backoff = self._backoff
        failing = False
        while True:
            reason = self._state.reason if failing else None
            await self._set_state(LoginState("connecting", reason=reason or f"connecting to the gateway at "
                                                                             f"{self._endpoint}"))
            log.info("WeChat: connecting to the gateway at %s", self._endpoint)
            was_logged_in, reason = await self._connect_once()
            if was_logged_in:
                backoff.reset()
                failing = False
            self.connection.down(reason)
            await self._set_state(LoginState("logged_out", reason=reason))
            if not failing:
                failing = True
                await self._emit(ConnectionProblem(reason))
            log.warning("WeChat gateway at %s: %s; reconnecting in %.1f s", self._endpoint, reason, backoff.delay)
            await backoff.wait()

    async def _connect_once(self) -> tuple[bool, str]:
        """One connection, until its event stream ends: whether it got logged in, and why it ended."""
        link = PuppetLink(self._endpoint, self._token, tls=self._tls, timeout=READ_TIMEOUT_SECONDS)
        self._capabilities = self._declared  # another gateway may answer on this port now
        self._had_login = False
        self._drop_reason = None
        self._puppet_error = None
        events = link.events()
        try:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    first = await anext(events)
            except TimeoutError:
                return False, (f"cannot reach the gateway: no answer within {CONNECT_TIMEOUT_SECONDS:g} s "
                               "(is it running, and is wechaty.tls right for it?)")
            except StopAsyncIteration:
                return False, "the gateway ended the connection"
            self._link = link
            self.connection.up()
            if first.type != "heartbeat":
                await self._dispatch(first)
            try:
                await link.start()
            except GatewayUnavailable:
                raise
            except SendError as exc:  # the gateway answered: its puppet could not start
                return False, puppet_error_reason({"gerror": exc.cause})
            if self._state.state == "connecting":
                await self._set_state(LoginState("connecting", reason="connected to the gateway; waiting for "
                                                                      "WeChat to log in or show a QR code"))
            async for event in events:
                await self._dispatch(event)
            return self._had_login, self._drop_reason or "the gateway ended the connection"
        except SendError as exc:
            return self._had_login, self._drop_reason or _connection_reason(exc)
        finally:
            self._link = None
            self._logged_in.clear()
            with contextlib.suppress(Exception):  # the connection is already gone; nothing more to do
                await events.aclose()
            await link.close()

    async def _drop(self, reason: str) -> None:
        """End the current connection now (the run loop reconnects): a send on it was cut off."""
        link, self._link = self._link, None
        self._logged_in.clear()
        if link is not None:
            self._drop_reason = f"dropped the connection: {reason}"
            await link.close()

    async def _set_state(self, state: LoginState) -> None:
        if state == self._state:
            return
        self._state = state
        if state.state == "logged_in":
            self._logged_in.set()
        else:
            self._logged_in.clear()
        await self._emit(state)

    async def _emit(self, event: WeChatEvent) -> None:
        try:
            await self._on_event(event)
        except Exception:
            log.exception("handling WeChat event %r failed", event)

    async def _dispatch(self, event: PuppetEvent) -> None:
        handler = self._handlers.get(event.type)
        if handler is None:
            log.debug("gateway event %s: %s", event.type, event.payload)
            return
        await handler(self, event.payload)

    async def _handle_login(self, payload: dict[str, Any]) -> None:
        contact_id = str(payload.get("contactId") or "")
        name = contact_id
        try:
            name = (await self._active().contact_payload(contact_id)).name or name
        except SendError as exc:  # the name is cosmetic; the login stands without it
            log.debug("cannot read the logged-in contact: %s", exc)
        self._had_login = True
        self._logged_in_at = time.monotonic()
        self._forced = False
        self._puppet_error = None
        await self._set_state(LoginState("logged_in", user=WeChatUser(contact_id, name)))

    async def _handle_logout(self, payload: dict[str, Any]) -> None:
        reason = str(payload.get("data") or "") or "the account was logged out"
        soon = self._logged_in_at is not None and time.monotonic() - self._logged_in_at < FORCED_LOGOUT_SECONDS
        if soon or self._forced or FORCED_LOGOUT_SIGNS.search(reason):
            log.warning("WeChat: %s (the puppet said: %s)", FORCED_LOGOUT, reason)
            reason = FORCED_LOGOUT
        self._logged_in_at = None
        await self._set_state(LoginState("logged_out", reason=reason))

    async def _handle_scan(self, payload: dict[str, Any]) -> None:
        if payload.get("qrcode"):
            await self._set_state(LoginState("scan", qrcode=str(payload["qrcode"]), reason="waiting for a QR scan"))

    async def _handle_error(self, payload: dict[str, Any]) -> None:
        """The puppet behind the gateway reports a problem (its own, not the connection's)."""
        reason = puppet_error_reason(payload)
        self._forced = self._forced or bool(FORCED_LOGOUT_SIGNS.search(reason))
        if self._forced:
            reason = FORCED_LOGOUT
        self._metrics.puppet_error()
        if reason == self._puppet_error:
            # wechat4u offline repeats its error a few times a second: one warning, not a flood.
            log.debug("WeChat gateway reports again: %s", reason)
        else:
            self._puppet_error = reason
            log.warning("WeChat gateway reports: %s", reason)
        if self._state.state != "logged_in":
            await self._set_state(LoginState(self._state.state, user=self._state.user, reason=reason,
                                             qrcode=self._state.qrcode))

    async def _handle_room_join(self, payload: dict[str, Any]) -> None:
        await self._emit(RoomChange("room_join", str(payload.get("roomId", "")), {
            "invited_ids": list(payload.get("inviteeIdList") or []), "inviter_id": payload.get("inviterId"),
        }))

    async def _handle_room_leave(self, payload: dict[str, Any]) -> None:
        await self._emit(RoomChange("room_leave", str(payload.get("roomId", "")), {
            "removed_ids": list(payload.get("removeeIdList") or []), "remover_id": payload.get("removerId"),
        }))

    async def _handle_room_topic(self, payload: dict[str, Any]) -> None:
        await self._emit(RoomChange("room_topic", str(payload.get("roomId", "")), {
            "old_topic": payload.get("oldTopic"), "new_topic": payload.get("newTopic"),
        }))

    async def _handle_message(self, payload: dict[str, Any]) -> None:
        if not self._listening():
            return  # nobody would be told; do not ask the gateway what it was
        message_id = str(payload.get("messageId") or "")
        user = self._state.user
        try:
            link = self._active()
            message = await link.message_payload(message_id)
            if not message.room_id or (user is not None and message.talker_id == user.id):
                return  # a direct chat, or the bot's own message echoed back
            name = message.talker_id
            with contextlib.suppress(SendError):  # the name is cosmetic; the message stands without it
                name = (await link.contact_payload(message.talker_id)).name or name
        except SendError as exc:
            log.warning("cannot read incoming message %s: %s", message_id, exc)
            return
        await self._emit(IncomingMessage(
            id=message.id, room_id=message.room_id, from_id=message.talker_id, from_name=name,
            text=message.text, type=message.type, mentioned_me=user is not None and user.id in message.mention_ids,
            ts=message.timestamp,
        ))

    _handlers: ClassVar[dict[str, Callable[[WeChatClient, dict[str, Any]], Awaitable[None]]]] = {
        "login": _handle_login, "logout": _handle_logout, "scan": _handle_scan, "error": _handle_error,
        "room_join": _handle_room_join, "room_leave": _handle_room_leave, "room_topic": _handle_room_topic,
        "message": _handle_message,
    }

    def _active(self) -> PuppetLink:
        if self._link is None:
            raise GatewayUnavailable("not connected to the WeChat gateway")
        return self._link

    async def rooms(self) -> list[WeChatRoom]:
        """Every room the account is in, read fresh from the gateway."""
        link = self._active()
        try:
            rooms = []
            for room_id in await link.room_list():
                await link.dirty_payload("room", room_id)
                payload = await link.room_payload(room_id)
                rooms.append(WeChatRoom(room_id, payload.topic, len(payload.member_ids)))
            return rooms
        except SendError as exc:
            raise SendError(f"cannot list rooms: {exc.cause}", transient=True, cause=exc.cause) from None

    async def send_text(self, room_id: str, text: str, mentions: Sequence[WeChatContact] = ()) -> str:
        """Send `text` to the room, @-mentioning `mentions`; returns WeChat's message id. Raises `SendError`.

        Like `Room.say`, the names go in front of the text (`@Alice` and a narrow space, as WeChat
        writes them), and their ids go with the message so WeChat notifies those people.
        """
        if mentions:
            text = "".join(f"@{contact.name}{MENTION_SEPARATOR}" for contact in mentions) + text
        ids = [contact.id for contact in mentions]
        return await self._timed(self._send(lambda link: link.send_text(room_id, text, ids,
                                                                        deadline=self._send_timeout)))

    async def send_file(self, room_id: str, name: str, data: bytes) -> str:
        """Send bytes as a file; WeChat shows images inline. Files over 1 MiB are uploaded first.

        Raises `Unsupported` when the gateway does not implement file sends, and remembers it.
        """
        try:
            return await self._timed(self._send(lambda link: link.send_file(room_id, name, data,
                                                                            deadline=self._send_timeout)))
        except Unsupported as exc:
            if exc.capability == "files" and self._capabilities.files:
                log.warning("WeChat gateway at %s: %s; sending text only on this connection", self._endpoint,
                            exc.cause)
                self._capabilities = replace(self._capabilities, files=False)
            raise

    async def _timed(self, send: Awaitable[str]) -> str:
        """A send to WeChat, counted with its latency (`GatewayUnavailable`: not made, not counted)."""
        started = time.monotonic()
        result = "failed"
        try:
            message_id = await send
            result = "ok"
            return message_id
        except GatewayUnavailable:
            result = ""
            raise
        except SendInDoubt:
            result = "in_doubt"
            raise
        finally:
            if result:
                self._metrics.sent(time.monotonic() - started, result)

    async def room_members(self, room_id: str) -> list[WeChatContact]:
        """The people in a room, with their names, read fresh from the gateway."""
        async def members(link: PuppetLink) -> list[WeChatContact]:
            found = []
            for member_id in await link.room_members(room_id):
                payload = await link.contact_payload(member_id)
                found.append(WeChatContact(member_id, payload.name or member_id))
            return found
        return await self._send(members)

    async def _send(self, call: Callable[[PuppetLink], Awaitable[T]]) -> T:
        if not self._logged_in.is_set():
            raise GatewayUnavailable(f"WeChat is not logged in ({self._state.reason or self._state.state})")
        link = self._active()
        try:
            return await call(link)
        except SendInDoubt as exc:
            # Never again on this connection: a frozen gateway would carry out every retry it buffered.
            await self._drop(str(exc))
            raise


async def _ignore(event: WeChatEvent) -> None:
    """The handler until the root gives one at start."""


def link_tls(settings: GatewayTlsSettings | None) -> LinkTls | None:
    """The link's TLS from `wechaty.tls` (None: plaintext)."""
    if settings is None:
        return None
    if settings.wechaty_ca:
        tls = LinkTls.wechaty_ca()
        return tls if settings.server_name is None else LinkTls(tls.ca_pem, settings.server_name)
    return LinkTls.from_files(settings.ca_file, settings.server_name)


def puppet_error_reason(payload: dict[str, Any]) -> str:
    """An `error` event's payload (`{"gerror": "<GError JSON or text>"}`) in a person's words."""
    raw = payload.get("gerror", payload.get("data", ""))
    text = str(raw)
    with contextlib.suppress(ValueError, TypeError):
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            text = str(parsed.get("message") or parsed.get("details") or text)
    text = text.strip() or "an error without a message"
    lowered = text.lower()
    if any(sign in lowered for sign in ("enotfound", "eai_again", "getaddrinfo", "econnrefused", "etimedout",
                                        "econnreset", "enetunreach", "ehostunreach")):
        return (f"the gateway cannot reach WeChat's servers ({text[:200]}): check the internet connection and "
                "DNS of the machine the gateway runs on")
    return f"the gateway's WeChat puppet reports an error: {text[:300]}"


def _connection_reason(exc: SendError) -> str:
    """Why the gateway cannot be reached, in our words: the link's `cause`, or its whole sentence."""
    return f"cannot reach the gateway: {exc.cause}" if exc.cause != str(exc) else str(exc)


def _private(endpoint: str) -> bool:
    """Whether the endpoint's host is loopback, a private or link-local address, or a local name."""
    if endpoint.startswith("["):
        host = endpoint[1:endpoint.find("]")]
    else:
        host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.lower().rstrip(".")
        return "." not in name or name.endswith((".local", ".lan", ".home.arpa", ".internal", ".localhost"))
    return address.is_loopback or address.is_private or address.is_link_local

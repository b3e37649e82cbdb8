"""The one logged-in WeChat account, reached through a wechaty puppet-service gateway.

This is the only module that talks to the wechaty SDK (through `wechaty_compat`). It owns the
connection lifecycle instead of `Wechaty.start()`, which blocks until the event stream ends,
sleeps a fixed 60 s after any connection error and fires `login` only once per process: we
connect the SDK's puppet ourselves, listen to its events, and reconnect with capped backoff.

Texts are sent with the puppet's `message_send_text`, the call `Room.say` makes, without the
message-payload fetch `Room.say` does after sending: if that fetch failed, a message already in
the room would be reported as failed and could be sent twice.

Every message in the account's rooms, the bot's own sends included (the gateway echoes them),
arrives as a bare id whose payload costs a gRPC call; while no room listens (`listening()` is
False) they are not read at all, which halves the gateway calls during a burst of sends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from bridge.errors import GatewayUnavailable, SendError
from bridge.wechaty_compat import (
    EventLoginPayload,
    EventLogoutPayload,
    EventMessagePayload,
    EventRoomJoinPayload,
    EventRoomLeavePayload,
    EventRoomTopicPayload,
    EventScanPayload,
    FileBox,
    Wechaty,
    new_options,
)

log = logging.getLogger(__name__)

#: Reconnect backoff: quick first retry for a gateway restart, capped so an outage is noticed
#: within half a minute of its end without hammering a gateway that is down.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
#: gRPC statuses that say the request itself is wrong; retrying cannot help.
_PERMANENT_STATUSES = frozenset({
    Status.INVALID_ARGUMENT, Status.NOT_FOUND, Status.PERMISSION_DENIED, Status.UNIMPLEMENTED,
})

#: What WeChat puts between a mention and the text (U+2005, four-per-em space), as `Room.say` does.
MENTION_SEPARATOR = "\u2005"
T = TypeVar("T")

LoginStateName = Literal["connecting", "scan", "logged_in", "logged_out"]


@dataclass(frozen=True, slots=True)
class WeChatUser:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class WeChatContact:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class WeChatRoom:
    id: str
    topic: str
    member_count: int


@dataclass(frozen=True, slots=True)
class LoginState:
    """Where the account stands; `reason` says why it is not logged in, in plain words."""

    state: LoginStateName
    user: WeChatUser | None = None
    reason: str | None = None
    qrcode: str | None = None


@dataclass(frozen=True, slots=True)
class RoomChange:
    """A room the account is in was joined, left or renamed."""

    kind: Literal["room_join", "room_leave", "room_topic"]
    room_id: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConnectionProblem:
    """The gateway cannot be reached or dropped us; reported once per outage, not per retry."""

    reason: str


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """Something a person wrote in a room the account is in (never the account's own messages)."""

    id: str
    room_id: str
    from_id: str
    from_name: str
    text: str
    type: str
    mentioned_me: bool
    ts: float


WeChatEvent = LoginState | RoomChange | ConnectionProblem | IncomingMessage
EventHandler = Callable[[WeChatEvent], Awaitable[None]]


class WeChatClient:
    """Keeps one bot connected and logged-in state known; sends texts to rooms by id."""

    def __init__(self, *, endpoint: str, token: str, send_timeout: float, on_event: EventHandler,
                 listening: Callable[[], bool] = lambda: True) -> None:
        self._endpoint = endpoint
        self._listening = listening
        self._token = token
        self._send_timeout = send_timeout
        self._on_event = on_event
        self._bot: Wechaty | None = None
        self._state = LoginState("connecting")
        self._logged_in = asyncio.Event()
        self._had_login = False

    @property
    def state(self) -> LoginState:
        return self._state

    async def wait_logged_in(self) -> None:
        await self._logged_in.wait()

    async def run(self) -> None:
        """Connect, listen, and reconnect for as long as the task lives."""
        delay = RECONNECT_MIN_SECONDS
        failing = False
        while True:
            await self._set_state(LoginState("connecting", reason=self._state.reason))
            log.info("WeChat: connecting to the gateway at %s", self._endpoint)
            was_logged_in, reason = await self._connect_once()
            if was_logged_in:
                delay, failing = RECONNECT_MIN_SECONDS, False
            await self._set_state(LoginState("logged_out", reason=reason))
            if not failing:
                failing = True
                await self._emit(ConnectionProblem(reason))
            log.warning("WeChat gateway at %s: %s; reconnecting in %.1f s", self._endpoint, reason, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _connect_once(self) -> tuple[bool, str]:
        """One connection, until its event stream ends: whether it got logged in, and why it ended."""
        bot = Wechaty(new_options(self._endpoint, self._token))
        await bot.init_puppet()
        puppet = bot.puppet
        for event, listener in (
            ("login", self._handle_login), ("logout", self._handle_logout), ("scan", self._handle_scan),
            ("room-join", self._handle_room_join), ("room-leave", self._handle_room_leave),
            ("room-topic", self._handle_room_topic), ("message", self._handle_message),
        ):
            puppet.on(event, listener)
        self._bot = bot
        self._had_login = False
        try:
            await puppet.start()  # returns when the gateway ends the event stream
            return self._had_login, "the gateway ended the connection"
        except (OSError, StreamTerminatedError, ProtocolError, GRPCError) as exc:
            return self._had_login, f"cannot reach the gateway: {_describe(exc)}"
        finally:
            self._bot = None
            self._logged_in.clear()
            try:
                await puppet.stop()
            except Exception as exc:  # the connection is already gone; nothing more to do
                log.debug("closing the gateway connection: %s", _describe(exc))

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

    async def _handle_login(self, payload: EventLoginPayload) -> None:
        name = payload.contact_id
        try:
            contact = await self._puppet().contact_payload(payload.contact_id)
            name = contact.name or name
        except Exception as exc:  # the name is cosmetic; the login stands without it
            log.debug("cannot read the logged-in contact: %s", _describe(exc))
        self._had_login = True
        await self._set_state(LoginState("logged_in", user=WeChatUser(payload.contact_id, name)))

    async def _handle_logout(self, payload: EventLogoutPayload) -> None:
        reason = payload.data or "the account was logged out"
        await self._set_state(LoginState("logged_out", reason=reason))

    async def _handle_scan(self, payload: EventScanPayload) -> None:
        if payload.qrcode:
            await self._set_state(LoginState("scan", qrcode=payload.qrcode, reason="waiting for a QR scan"))

    async def _handle_room_join(self, payload: EventRoomJoinPayload) -> None:
        await self._emit(RoomChange("room_join", payload.room_id, {
            "invited_ids": list(payload.invited_ids or []), "inviter_id": payload.inviter_id,
        }))

    async def _handle_room_leave(self, payload: EventRoomLeavePayload) -> None:
        await self._emit(RoomChange("room_leave", payload.room_id, {
            "removed_ids": list(payload.removed_ids or []), "remover_id": payload.remover_id,
        }))

    async def _handle_room_topic(self, payload: EventRoomTopicPayload) -> None:
        await self._emit(RoomChange("room_topic", payload.room_id, {
            "old_topic": payload.old_topic, "new_topic": payload.new_topic,
        }))

    async def _handle_message(self, payload: EventMessagePayload) -> None:
        if not self._listening():
            return  # nobody would be told; do not ask the gateway what it was
        user = self._state.user
        try:
            puppet = self._puppet()
            message = await puppet.message_payload(payload.message_id)
            if not message.room_id or (user is not None and message.from_id == user.id):
                return  # a direct chat, or the bot's own message echoed back
            name = message.from_id
            with contextlib.suppress(Exception):  # the name is cosmetic; the message stands without it
                name = (await puppet.contact_payload(message.from_id)).name or name
        except (SendError, OSError, StreamTerminatedError, ProtocolError, GRPCError) as exc:
            log.warning("cannot read incoming message %s: %s", payload.message_id, _describe(exc))
            return
        kind = getattr(message.type, "name", str(message.type)).removeprefix("MESSAGE_TYPE_").lower()
        ts = float(message.timestamp or 0)
        await self._emit(IncomingMessage(
            id=message.id or payload.message_id, room_id=message.room_id, from_id=message.from_id,
            from_name=name, text=message.text or "", type=kind,
            mentioned_me=user is not None and user.id in (message.mention_ids or []),
            ts=ts / 1000 if ts > 1e11 else ts,  # puppets differ: seconds or milliseconds
        ))

    def _puppet(self) -> Any:
        if self._bot is None:
            raise GatewayUnavailable("not connected to the WeChat gateway")
        return self._bot.puppet

    async def rooms(self) -> list[WeChatRoom]:
        """Every room the account is in, read fresh from the gateway."""
        puppet = self._puppet()
        try:
            ids = await puppet.room_list()
            rooms = []
            for room_id in ids:
                await puppet.room_payload_dirty(room_id)
                payload = await puppet.room_payload(room_id)
                rooms.append(WeChatRoom(room_id, payload.topic or "", len(payload.member_ids or [])))
            return rooms
        except (OSError, StreamTerminatedError, ProtocolError, GRPCError) as exc:
            raise SendError(f"cannot list rooms: {_describe(exc)}", transient=True) from None

    async def send_text(self, room_id: str, text: str, mentions: Sequence[WeChatContact] = ()) -> str:
        """Send `text` to the room, @-mentioning `mentions`; returns WeChat's message id. Raises `SendError`.

        Like `Room.say`, the names go in front of the text (`@Alice` and a narrow space, as WeChat
        writes them), and their ids go with the message so WeChat notifies those people.
        """
        if mentions:
            text = "".join(f"@{contact.name}{MENTION_SEPARATOR}" for contact in mentions) + text
        ids = [contact.id for contact in mentions] or None
        return await self._send(lambda puppet: puppet.message_send_text(
            conversation_id=room_id, message=text, mention_ids=ids))

    async def send_file(self, room_id: str, name: str, data: bytes) -> str:
        """Send bytes as a file; WeChat shows images inline. FileBox from base64, the form 1.x gateways take."""
        box = FileBox.from_base64(base64.b64encode(data).decode(), name=name)
        return await self._send(lambda puppet: puppet.message_send_file(conversation_id=room_id, file=box))

    async def room_members(self, room_id: str) -> list[WeChatContact]:
        """The people in a room, with their names, read fresh from the gateway."""
        async def members(puppet: Any) -> list[WeChatContact]:
            found = []
            for member_id in await puppet.room_members(room_id):
                payload = await puppet.contact_payload(member_id)
                found.append(WeChatContact(member_id, payload.name or member_id))
            return found
        return await self._send(members)

    async def _send(self, call: Callable[[Any], Awaitable[T]]) -> T:
        if not self._logged_in.is_set():
            raise GatewayUnavailable(f"WeChat is not logged in ({self._state.reason or self._state.state})")
        puppet = self._puppet()
        try:
            async with asyncio.timeout(self._send_timeout):
                return await call(puppet)
        except TimeoutError:
            raise SendError(f"the gateway did not answer within {self._send_timeout:g} s", transient=True) from None
        except GRPCError as exc:
            transient = exc.status not in _PERMANENT_STATUSES
            raise SendError(f"WeChat refused the message: {_describe(exc)}", transient=transient) from None
        except (OSError, StreamTerminatedError, ProtocolError) as exc:
            # Not counted as an attempt: the message waits for the reconnect like any other.
            raise GatewayUnavailable(f"lost the gateway while sending: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, GRPCError):
        return f"{exc.message or exc.status.name}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

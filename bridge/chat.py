"""What the bridge knows of WeChat: the account's state, its rooms and people, and what happens there.

Plain frozen values that cross stages (the WeChat client makes them; the app, the status topics,
the room directory and the reports read them), kept apart from the adapter that speaks the
gateway's protocol (`bridge.wechat`, over `bridge.wechaty`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

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


@dataclass(kw_only=True, frozen=True, slots=True)
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


@dataclass(kw_only=True, frozen=True, slots=True)
class IlinkState:
    """One person's official bot (iLink), as `<base>/bridge/ilink/<name>` and the status page show it.

    `window_until` and `budget` are our estimate (the server decides); `waiting` counts the
    deliveries for this person that wait in the outbox; `qr` is the text of the login QR code while
    a scan is needed; `reason` says, in plain words, why the bot cannot write now; `asks_code` while
    the login waits for the number the phone shows (typed on the status page).
    """

    name: str
    state: Literal["logged_in", "logged_out", "scan"]
    window_until: float | None = None
    budget: int | None = None
    waiting: int = 0
    qr: str | None = None
    reason: str | None = None
    asks_code: bool = False


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one way into WeChat can carry, as declared for it (`bridge.wechat.capabilities`) or
    learned on the connection (a gateway that answered a file send with UNIMPLEMENTED).

    `transport` names it in the sentence a report's `note` carries ("the official bot", "the
    wechat-skill gateway"); `groups`: it reaches group chats; `files`: images and files;
    `mentions`: real @-mentions (the people are notified), not only `@Name` in the text.
    """

    transport: str
    groups: bool = True
    files: bool = True
    mentions: bool = True


WeChatEvent = LoginState | RoomChange | ConnectionProblem | IncomingMessage
EventHandler = Callable[[WeChatEvent], Awaitable[None]]


#: A page that draws a QR code from its URL, the one wechaty's own tools print.
QR_RENDER_URL = "https://wechaty.js.org/qrcode/"


def qr_url(qrcode: str) -> str:
    """A link that shows the login QR code as a picture, for a person reading text (a log, a topic)."""
    return QR_RENDER_URL + quote(qrcode, safe="")

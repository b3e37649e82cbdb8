"""Frozen values read from iLink's answers, so callers never hold iLink's JSON.

Field names follow src/api/types.ts of Tencent's client; each value is parsed once, here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ItemType(enum.IntEnum):
    """`MessageItemType` of src/api/types.ts: the kind of one entry of a message's `item_list`."""

    NONE = 0
    TEXT = 1
    IMAGE = 2
    VOICE = 3
    FILE = 4
    VIDEO = 5


class MediaType(enum.IntEnum):
    """`UploadMediaType` of src/api/types.ts: `media_type` of getuploadurl."""

    IMAGE = 1
    VIDEO = 2
    FILE = 3
    VOICE = 4


#: `MessageType.BOT` and `MessageState.FINISH`: what every message the bot sends says of itself.
MESSAGE_TYPE_USER = 1
MESSAGE_TYPE_BOT = 2
MESSAGE_STATE_FINISH = 2


class QrState(enum.Enum):
    """`status` of get_qrcode_status: every value Tencent's client (src/auth/login-qr.ts) handles."""

    WAIT = "wait"
    SCANED = "scaned"  # sic: iLink's spelling
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    SCANED_BUT_REDIRECT = "scaned_but_redirect"
    NEED_VERIFYCODE = "need_verifycode"
    VERIFY_CODE_BLOCKED = "verify_code_blocked"
    BINDED_REDIRECT = "binded_redirect"


@dataclass(frozen=True, slots=True)
class QrCode:
    """A login QR code: `qrcode` is the handle to poll with, `url` (qrcode_img_content) what the QR encodes."""

    qrcode: str
    url: str


@dataclass(kw_only=True, frozen=True, slots=True)
class QrStatus:
    """One answer of get_qrcode_status. An unknown status string is kept as WAIT (`raw_status` says what came)."""

    state: QrState
    raw_status: str
    bot_token: str | None = field(default=None, repr=False)
    bot_id: str | None = None
    base_url: str | None = None
    user_id: str | None = None
    redirect_host: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> QrStatus:
        raw = str(body.get("status") or "wait")
        try:
            state = QrState(raw)
        except ValueError:
            state = QrState.WAIT  # a new status we do not know yet: keep polling, as for `wait`
        return cls(
            state=state,
            raw_status=raw,
            bot_token=_opt_str(body.get("bot_token")),
            bot_id=_opt_str(body.get("ilink_bot_id")),
            base_url=_opt_str(body.get("baseurl")),
            user_id=_opt_str(body.get("ilink_user_id")),
            redirect_host=_opt_str(body.get("redirect_host")),
        )


@dataclass(kw_only=True, frozen=True, slots=True)
class InboundMessage:
    """A message the person wrote to the bot (`message_type` 1)."""

    from_user_id: str
    context_token: str | None
    text: str  # the TEXT items joined by newlines; a voice item's transcript; "" for media only
    item_types: tuple[int, ...]
    message_id: str | None = None  # uint64 on the wire: kept as a string, as Tencent's client does
    create_time_ms: int | None = None

    @classmethod
    def from_json(cls, msg: Mapping[str, Any]) -> InboundMessage:
        items = [i for i in msg.get("item_list") or () if isinstance(i, Mapping)]
        texts: list[str] = []
        for item in items:
            if item.get("type") == ItemType.TEXT:
                texts.append(str((item.get("text_item") or {}).get("text") or ""))
            elif item.get("type") == ItemType.VOICE and (item.get("voice_item") or {}).get("text"):
                texts.append(str(item["voice_item"]["text"]))
        created = msg.get("create_time_ms")
        return cls(
            from_user_id=str(msg.get("from_user_id") or ""),
            context_token=_opt_str(msg.get("context_token")),
            text="\n".join(t for t in texts if t),
            item_types=tuple(int(i.get("type") or 0) for i in items),
            message_id=None if msg.get("message_id") is None else str(msg["message_id"]),
            create_time_ms=created if isinstance(created, int) else None,
        )


@dataclass(frozen=True, slots=True)
class Updates:
    """One getupdates answer: the messages, the cursor to send next, and the server's next poll length."""

    messages: tuple[InboundMessage, ...]
    cursor: str
    longpolling_timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """sendmessage answered ret 0 (or no ret at all): the message is delivered to iLink.

    `message_id` is often absent from the answer; `client_id` is ours and always known.
    """

    client_id: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """getuploadurl's answer: where the encrypted bytes go (a full URL wins over a param)."""

    upload_param: str | None
    upload_full_url: str | None


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)

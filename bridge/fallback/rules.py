"""When the fallback speaks, and what it says (pure: the time is handed in, nothing is sent here).

The outage: WeChat is away while the account is not logged in, whatever the reason (logged out,
a QR code waiting to be scanned, the gateway unreachable). Reconnect attempts within one outage
do not start a new one, so there is one alert per outage:

    logged in ──leaves──> away (since) ──logout_after──> alert ──remind_every──> reminder ...
        ^                                                                           │
        └────────────── logged in again: "back" (only if an alert went out) ────────┘

`OutageWatch` decides these moments from the stored `OutageRecord`, so a restart during an
outage neither alerts twice nor forgets to say "back". The texts are composed here, in the
config's locale; the deliveries' own texts go out as they were rendered.

A send through the fallback is tried until one URL takes it; when every URL fails it is tried
again after the `fallback.retry` backoff, and ends `failed` when its tries are used up, or at
its second doubt (a try that may have arrived without saying so): never a third copy.

URLs carry their secrets (a password, a token in the path, a WeCom robot key as the host), so
they are shown only as `scheme://…` with their place in `fallback.urls`, and `secret_parts`
feeds the log filter that blanks them in every log line, Apprise's own included.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from bridge.chat import LoginState, qr_url
from bridge.config.routes import RetrySettings
from bridge.i18n import ENGLISH, Texts
from bridge.outbox.fallback_records import Alert, FallbackSend, OutageRecord

# A send that may have reached the service this many times is not tried again, as for WeChat.
from bridge.outbox.sending import MAX_DOUBTS
from bridge.pipeline.filters import duration, localtime

#: Pixels per QR module in the PNG: a 33-module code becomes about 330 px, easy for a phone camera.
QR_MODULE_PIXELS = 8
QR_BORDER_MODULES = 4
#: URL parts at least this long are blanked in logs: shorter ones (`/v1`, `443`) are no secret and
#: would blank common words in every log line. A password is blanked whatever its length.
SECRET_MIN_CHARS = 6

STOPPED_DURING_SEND = "the bridge stopped while sending it through the fallback; sent again once"
IN_DOUBT_TWICE = ("twice the fallback may have sent it without confirming it (the bridge stopped, or the "
                  "service did not answer in time): not sent again")

AlertKind = Literal["logout", "reminder", "back"]


@dataclass(frozen=True, slots=True)
class OutageChange:
    """What the watch decided: the record to store (None: no outage), the alert it raises and
    the outage that alert is about (for "back", the one just over)."""

    record: OutageRecord | None
    alert: AlertKind | None = None
    about: OutageRecord | None = None


class OutageWatch:
    """One alert per outage, a reminder every `remind_every`, "back" once it is over."""

    def __init__(self, *, logout_after: float, remind_every: float, record: OutageRecord | None) -> None:
        self.logout_after = logout_after
        self.remind_every = remind_every
        self.record = record

    def login(self, state: LoginState, now: float) -> OutageChange | None:
        """The account's state changed; a change to store, or None when nothing changes."""
        if state.state == "logged_in":
            if self.record is None:
                return None
            ended, self.record = self.record, None
            return OutageChange(None, "back", ended) if ended.alerted_at is not None else OutageChange(None)
        if self.record is not None:
            return None  # a reconnect attempt within the outage: the same outage
        self.record = OutageRecord(since=now)
        return OutageChange(self.record)

    def due(self, now: float) -> OutageChange | None:
        """The alert or reminder due at `now`, if any."""
        record = self.record
        if record is None:
            return None
        if record.alerted_at is None:
            if now < record.since + self.logout_after:
                return None
            self.record = replace(record, alerted_at=now)
            return OutageChange(self.record, "logout", self.record)
        if now < (record.reminded_at or record.alerted_at) + self.remind_every:
            return None
        self.record = replace(record, reminded_at=now)
        return OutageChange(self.record, "reminder", self.record)

    def next_due(self) -> float | None:
        record = self.record
        if record is None:
            return None
        if record.alerted_at is None:
            return record.since + self.logout_after
        return (record.reminded_at or record.alerted_at) + self.remind_every


# --------------------------------------------------------------------------- what is said


def alert(kind: AlertKind, *, record: OutageRecord, state: LoginState, waiting: int, now: float,
          texts: Texts = ENGLISH) -> Alert:
    """The alert of `kind` about the outage of `record`, with the QR code as a PNG while a scan is needed."""
    since = localtime(record.since, "datetime", texts)
    lasted = duration(now - record.since, texts)
    if kind == "back":
        name = state.user.name if state.user is not None else "?"
        body = texts.gettext("WeChat is logged in again as {name}, after {lasted} away (since {since}). "
                             "{waiting} waiting messages go out now.").format(
            name=name, lasted=lasted, since=since, waiting=waiting)
        return Alert(kind="back", title=texts.gettext("WeChat is back"), body=body, created_at=now)
    title = texts.gettext("WeChat is logged out") if kind == "logout" else texts.gettext("WeChat is still logged out")
    reason = state.reason or _state_words(state, texts)
    lines = [texts.gettext("The bridge has not been logged in to WeChat since {since} ({lasted}): {reason}.").format(
        since=since, lasted=lasted, reason=reason),
        texts.gettext("{waiting} messages are waiting; they go out once it is logged in again.").format(
            waiting=waiting)]
    picture = None
    if state.state == "scan" and state.qrcode:
        lines.append(texts.gettext("To log in, scan the attached QR code with WeChat on the account's phone, "
                                   "or open {url}").format(url=qr_url(state.qrcode)))
        picture = qr_png(state.qrcode)
    else:
        lines.append(texts.gettext("To log in, open the bridge's status page (or bridge/login/qrcode in Home "
                                   "Assistant) and scan the QR code with WeChat once it shows; if none shows, "
                                   "restart the gateway."))
    return Alert(kind=kind, title=title, body="\n".join(lines), created_at=now, attachment=picture)


def _state_words(state: LoginState, texts: Texts) -> str:
    if state.state == "scan":
        return texts.gettext("a QR code is waiting to be scanned")
    if state.state == "connecting":
        return texts.gettext("the WeChat gateway cannot be reached")
    return texts.gettext("logged out")


def delivery_message(send: FallbackSend, room: str, texts: Texts = ENGLISH) -> tuple[str, str]:
    """(title, body) of a delivery's text sent through the fallback; `room` is the room's name."""
    titles = {
        "always": texts.gettext("For the WeChat room {room}"),
        "priority": texts.gettext("Not delivered in WeChat yet ({room})"),
        "failed": texts.gettext("Could not be delivered in WeChat ({room})"),
    }
    title = titles.get(send.kind, titles["always"]).format(room=room)
    body = send.body if send.body.strip() else texts.gettext("(an image or a file: see WeChat)")
    return title, body


# --------------------------------------------------------------------------- trying again


def retry_at(send: FallbackSend, *, in_doubt: bool, retry: RetrySettings, now: float) -> float | None:
    """When to try `send` again after a try every URL failed, or None: it ends `failed`."""
    tries, doubts = send.tries + 1, send.doubts + int(in_doubt)
    if tries >= retry.attempts or doubts >= MAX_DOUBTS:
        return None
    return now + float(min(retry.backoff * 2 ** (tries - 1), retry.max_backoff))


def gave_up(tries: int, error: str) -> str:
    return f"gave up after {tries} tries: {error}"


# --------------------------------------------------------------------------- URLs, shown safely


def scheme(url: str) -> str:
    """`ntfy://secret@host/topic` -> `ntfy`: all a report or `bridge/info` shows of a URL."""
    head, found, _ = url.partition("://")
    return head.strip().lower() if found and head.strip() else "?"


def redacted(url: str, index: int) -> str:
    """How `check` and the logs name a URL: its place and scheme, nothing of its secrets."""
    return f"fallback.urls[{index}] ({scheme(url)}://…)"


def secret_parts(url: str) -> list[str]:
    """The parts of `url` that may be secret, as written and decoded, for the log filter."""
    _, found, rest = url.partition("://")
    if not found:
        return [url] if len(url) >= SECRET_MIN_CHARS else []
    parts = {url, rest}
    try:
        split = urlsplit("x://" + rest)
        user, password, host = split.username, split.password, split.hostname
    except ValueError:
        split, user, password, host = None, None, None, None
    if password:
        parts.add(password)
    for part in (user, host if host and "." not in host and host != "localhost" else None):
        if part and len(part) >= SECRET_MIN_CHARS:
            parts.add(part)
    if split is not None:
        parts.update(p for p in split.path.split("/") if len(p) >= SECRET_MIN_CHARS)
        parts.update(v for _, v in parse_qsl(split.query) if len(v) >= SECRET_MIN_CHARS)
    parts |= {unquote(p) for p in parts}
    return sorted(parts, key=len, reverse=True)  # the longest first: a part inside another is blanked whole


# --------------------------------------------------------------------------- the QR code as a PNG


def qr_png(data: str) -> bytes:
    """`data` as a QR code in PNG (8-bit grey, black on white), written with zlib alone: every
    notification service that takes a picture takes a PNG, few take the SVG Home Assistant gets."""
    import qrcode  # only when a QR is to be sent: a bridge never logged out never pays for it

    code = qrcode.QRCode(border=QR_BORDER_MODULES, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    raw = bytearray()
    for row in code.get_matrix():
        line = b"".join((b"\x00" if dark else b"\xff") * QR_MODULE_PIXELS for dark in row)
        raw += (b"\x00" + line) * QR_MODULE_PIXELS  # filter type 0 before each scanline
    size = len(code.get_matrix()) * QR_MODULE_PIXELS

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8 bits, greyscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b""))

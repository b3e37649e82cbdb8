"""The worker's send: one claimed batch to WeChat, answered with one typed outcome.

A row: its text (with its @-mentions in front), then its attachment; a text that went out before
(`text_sent`, recorded through `on_text_sent` before the attachment is tried) is not sent again.
A digest: its rows' texts as one message (`bridge.pacing.format_digest`). A text longer than
`pacing.max_text_chars` goes out as numbered parts, paced like separate sends; the first part was
paced by the claim, and a retry sends every part again.

Every error on the way maps to one outcome, in one place (`Send.__call__`):

    RoomNotAvailable, EventRejected  -> Rejected   never retried; the report says why
    SendInDoubt                      -> InDoubt    WeChat may have it; the link dropped that connection
    GatewayUnavailable               -> Waiting    never sent; no attempt spent
    any other SendError              -> Refused    retried while `transient` and attempts remain
    (none)                           -> Sent

The order matters: `SendInDoubt` and `GatewayUnavailable` are `SendError`s too.

What the room's transport cannot carry (`Sender.capabilities`) is left out, not failed: an
attachment it cannot send goes as its text (with the attachment's URL where it has one), mentions
it cannot make go as plain `@Name` text, and `Sent.note` says so in the report. A gateway that
answers a file send UNIMPLEMENTED (`Unsupported`) has sent the text already: the URL follows as
a text of its own, and the client remembers for the connection that files do not go there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from bridge.chat import Capabilities, WeChatContact
from bridge.config.rooms import ContactSettings
from bridge.config.routes import AttachmentsSettings
from bridge.delivery.pacing import Pacer, format_digest, split_text
from bridge.delivery.ports import (
    Batch,
    Clock,
    Download,
    InDoubt,
    Outcome,
    Refused,
    Rejected,
    RoomLookup,
    Sender,
    Sent,
    Waiting,
)
from bridge.errors import EventRejected, GatewayUnavailable, SendError, SendInDoubt, Unsupported
from bridge.events import Attachment, RoomRef
from bridge.outbox.records import OutboxRow
from bridge.pipeline.attachments import read_local

log = logging.getLogger(__name__)


class Send:
    """`await send(batch)` -> the `Outcome`; see the module docstring."""

    def __init__(self, *, sender: Sender, rooms: RoomLookup, pacer: Pacer, clock: Clock,
                 on_text_sent: Callable[[int], Awaitable[None]],
                 contacts: Callable[[], Mapping[str, ContactSettings]] = dict,
                 attachments: AttachmentsSettings | None = None, download: Download | None = None) -> None:
        self._sender = sender
        self._rooms = rooms
        self._pacer = pacer
        self._clock = clock
        self._on_text_sent = on_text_sent
        self._contacts = contacts
        self._attachments = attachments or AttachmentsSettings()
        self._download = download

    async def __call__(self, batch: Batch) -> Outcome:
        room = RoomRef(batch.room_key)
        note: str | None = None
        try:
            found = self._rooms.resolve(batch.room_key)
            room = RoomRef(batch.room_key, found.id, found.topic)
            if batch.digest:
                if any(row.doubts for row in batch.rows):
                    log.warning("%s to room %r holds deliveries that were in doubt: sending them again, once "
                                "(WeChat may show them twice)", batch.name, batch.room_key)
                texts = [row.text or "" for row in batch.rows]
                text = batch.text if batch.text is not None else format_digest(texts, self._pacer.settings.digest)
                await self._text(found.id, batch.room_key, text)
            else:
                note = await self._row(batch.first, found.id)
        except SendInDoubt as exc:
            return InDoubt(room, str(exc))
        except EventRejected as exc:  # RoomNotAvailable among them: `room` is then unresolved
            return Rejected(room, str(exc))
        except GatewayUnavailable as exc:
            return Waiting(str(exc))
        except SendError as exc:
            return Refused(room, str(exc), exc.transient)
        return Sent(room, None if batch.digest else note)

    async def _row(self, row: OutboxRow, room_id: str) -> str | None:
        """The text (with its mentions), then the attachment; a text already sent is not sent again.
        Returns the note of what the transport could not carry, if anything."""
        assert row.text is not None
        if row.doubts:
            log.warning("delivery %s to room %r was in doubt (%s): sending it again, once (WeChat may show it "
                        "twice)", row.event_id, row.room_key, row.error)
        can = self._sender.capabilities(room_id)
        notes: list[str] = []
        text, attachment = row.text, row.attachment
        if attachment is not None and not can.files:  # declared: the text goes alone, with the URL
            notes.append(file_note(can, attachment.kind, attachment.name, url=attachment.url))
            text = _with_url(text or f"[{attachment.kind}: {attachment.name}]", attachment.url)
            attachment = None
        # Fetched first: an attachment that cannot be had must not leave its text sent alone.
        data = await self._attachment_bytes(attachment) if attachment is not None else None
        if text.strip() and not row.text_sent:
            mentions: list[WeChatContact] = []
            if row.mentions and can.mentions:
                mentions = await self._mentions(row, room_id)
            elif row.mentions:
                names = await self._plain_names(row, room_id)
                text = " ".join(f"@{name}" for name in names) + " " + text
                notes.append(mention_note(can, names))
            await self._text(room_id, row.room_key, text, mentions)
            if attachment is not None:
                await self._on_text_sent(row.seq)
        if attachment is not None and data is not None:
            note = await self._file(row, room_id, attachment, data, can)
            notes.extend([note] if note else [])
        log.debug("sent to room %r: %s%s", row.room_key, text,
                  f" + {attachment.kind} {attachment.name}" if attachment else "")
        return "; ".join(notes) or None

    async def _file(self, row: OutboxRow, room_id: str, attachment: Attachment, data: bytes,
                    can: Capabilities) -> str | None:
        """The attachment; a transport that turns out not to carry files gets its URL as a text instead."""
        await self._clock.sleep(self._pacer.wait(row.room_key, self._clock.monotonic()))
        try:
            await self._sender.send_file(room_id, attachment.name, data)
            return None
        except Unsupported:
            pass
        finally:
            self._pacer.sent(row.room_key, self._clock.monotonic())
        if attachment.url is not None:
            await self._clock.sleep(self._pacer.wait(row.room_key, self._clock.monotonic()))
            await self._text(room_id, row.room_key, attachment.url)
        return file_note(can, attachment.kind, attachment.name, url=attachment.url, learned=True)

    async def _plain_names(self, row: OutboxRow, room_id: str) -> list[str]:
        """The names to write as `@Name` where the transport makes no real mentions: the configured
        name, else the member's name found by id, else the contact key."""
        contacts = self._contacts()
        members: list[WeChatContact] | None = None
        names = []
        for key in row.mentions:
            wanted = contacts.get(key)
            if wanted is None:
                raise EventRejected(f"contact key {key!r} is no longer configured")
            if wanted.name is None and members is None:
                members = await self._sender.room_members(room_id)
            found = [m.name for m in members or [] if m.id == wanted.id]
            names.append(wanted.name or (found[0] if found else key))
        return names

    async def _text(self, room_id: str, room_key: str, text: str, mentions: list[WeChatContact] | None = None) -> None:
        """`text`, in numbered parts when it is too long; the mentions go with the first part."""
        pacing = self._pacer.settings
        for index, part in enumerate(split_text(text, pacing.max_text_chars, pacing.part_marker)):
            if index:
                await self._clock.sleep(self._pacer.wait(room_key, self._clock.monotonic()))
            try:
                await self._sender.send_text(room_id, part, (mentions or []) if index == 0 else [])
            finally:
                self._pacer.sent(room_key, self._clock.monotonic())  # a refused send spoke to WeChat too

    async def _mentions(self, row: OutboxRow, room_id: str) -> list[WeChatContact]:
        """The room members to @-mention; a configured contact who is not in the room rejects the delivery."""
        members = await self._sender.room_members(room_id)
        contacts = self._contacts()
        found = []
        for key in row.mentions:
            wanted = contacts.get(key)
            if wanted is None:
                raise EventRejected(f"contact key {key!r} is no longer configured")
            matches = [m for m in members if (m.id == wanted.id if wanted.id is not None else m.name == wanted.name)]
            if not matches:
                raise EventRejected(f"contact {key!r} ({wanted.describe()}) is not a member of room {row.room_key!r}")
            if len(matches) > 1:
                ids = ", ".join(sorted(m.id for m in matches))
                raise EventRejected(f"contact {key!r}: {len(matches)} members of room {row.room_key!r} are named "
                                    f"{wanted.name!r} ({ids}); configure the contact by id")
            found.append(matches[0])
        return found

    async def _attachment_bytes(self, attachment: Attachment) -> bytes:
        limits = self._attachments
        if attachment.data is not None:
            return attachment.data
        if attachment.url is not None:
            if self._download is None:
                raise EventRejected("this bridge cannot download attachments")
            return await self._download(attachment.url, max_bytes=limits.max_bytes, seconds=limits.download_timeout)
        assert attachment.path is not None
        return read_local(attachment.path, directory=limits.directory, max_bytes=limits.max_bytes)


def _with_url(text: str, url: str | None) -> str:
    """The text with the attachment's URL on a line of its own (unchanged without one)."""
    return f"{text}\n{url}" if url else text


def file_note(capabilities: Capabilities, kind: str, name: str, *, url: str | None, learned: bool = False) -> str:
    """The report's `note` of an attachment left out."""
    why = "answered UNIMPLEMENTED to a file send" if learned else "cannot send images or files"
    where = f"; its URL is in the text ({url})" if url else ""
    return f"the {kind} {name!r} was not sent: {capabilities.transport} {why}; the text was sent{where}"


def mention_note(capabilities: Capabilities, names: list[str]) -> str:
    """The report's `note` of mentions sent as plain text."""
    written = ", ".join(f"@{name}" for name in names)
    return (f"{written} sent as plain text: {capabilities.transport} cannot make real @-mentions, "
            f"so nobody was notified")

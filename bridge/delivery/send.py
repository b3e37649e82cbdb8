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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from bridge.chat import WeChatContact
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
from bridge.errors import EventRejected, GatewayUnavailable, SendError, SendInDoubt
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
                await self._row(batch.first, found.id)
        except SendInDoubt as exc:
            return InDoubt(room, str(exc))
        except EventRejected as exc:  # RoomNotAvailable among them: `room` is then unresolved
            return Rejected(room, str(exc))
        except GatewayUnavailable as exc:
            return Waiting(str(exc))
        except SendError as exc:
            return Refused(room, str(exc), exc.transient)
        return Sent(room)

    async def _row(self, row: OutboxRow, room_id: str) -> None:
        """The text (with its mentions), then the attachment; a text already sent is not sent again."""
        assert row.text is not None
        if row.doubts:
            log.warning("delivery %s to room %r was in doubt (%s): sending it again, once (WeChat may show it "
                        "twice)", row.event_id, row.room_key, row.error)
        attachment = row.attachment
        # Fetched first: an attachment that cannot be had must not leave its text sent alone.
        data = await self._attachment_bytes(attachment) if attachment is not None else None
        if row.text.strip() and not row.text_sent:
            mentions = await self._mentions(row, room_id) if row.mentions else []
            await self._text(room_id, row.room_key, row.text, mentions)
            if attachment is not None:
                await self._on_text_sent(row.seq)
        if attachment is not None and data is not None:
            await self._clock.sleep(self._pacer.wait(row.room_key, self._clock.monotonic()))
            try:
                await self._sender.send_file(room_id, attachment.name, data)
            finally:
                self._pacer.sent(row.room_key, self._clock.monotonic())
        log.debug("sent to room %r: %s%s", row.room_key, row.text,
                  f" + {attachment.kind} {attachment.name}" if attachment else "")

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

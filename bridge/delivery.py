"""Outbox -> WeChat: claim the oldest due delivery, send it, record the outcome.

Sends wait while WeChat is not logged in (the rows wait in the outbox) without spending an
attempt. A send that timed out or was cut off is in doubt (`SendInDoubt`): the client has
dropped that connection, and the row goes out again once after the reconnect and login, or ends
`failed` when it was in doubt before (`Outbox.mark_in_doubt`). A send WeChat refuses is retried with
the row's backoff until its attempts are used up, then ends `failed` with the last error; a room
that cannot be resolved after login ends `rejected`; a row past its `expire_after` ends
`expired`, logged in or not. Each finished row is handed to the reporter through `on_finished`.

Pacing (`bridge.pacing`): nothing is claimed while the global gap or bucket says wait, and rows
of rooms whose bucket is empty are left in the outbox while other rooms' rows go out, so a
waiting send is never marked as being sent. A text longer than `pacing.max_text_chars` goes
out as numbered parts, paced like separate sends; a retry sends every part again.

One commit per send: a delivered row's outcome is committed in the transaction that claims the
next row (`Outbox.claim(finish=...)`), or on its own when nothing is claimed next; its log line
and report follow that commit. The next row is still claimed only after the previous send ended,
so at most one send is in doubt.

Digest: when more than `pacing.digest.threshold` plain normal-priority texts of one room are
due and the oldest due row is one of them, they are claimed together (`Outbox.claim_digest`) and
sent as one message (`bridge.pacing.format_digest`); each still ends with its own report.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from bridge.attachments import read_local
from bridge.config import AttachmentsSettings, ContactSettings
from bridge.errors import EventRejected, GatewayUnavailable, OutboxError, RoomNotAvailable, SendError, SendInDoubt
from bridge.events import Attachment, RoomRef
from bridge.outbox import Outbox, OutboxRunner
from bridge.outbox_records import Finish, OutboxRow
from bridge.pacing import Pacer, digest_fit, format_digest, split_text
from bridge.rooms import RoomDirectory
from bridge.wechat import WeChatClient
from bridge.wechat_types import WeChatContact

log = logging.getLogger(__name__)

#: After the gateway was lost mid-send, wait this long before claiming again, so a worker that
#: learns of the outage before the login state does is not spinning against a closed port.
UNAVAILABLE_PAUSE_SECONDS = 1.0
#: Pause before retrying an outbox read or write that failed (disk full, I/O error).
OUTBOX_RETRY_SECONDS = 1.0

class Download(Protocol):
    def __call__(self, url: str, *, max_bytes: int, seconds: float) -> Awaitable[bytes]: ...


P = ParamSpec("P")
T = TypeVar("T")


class DeliveryWorker:
    def __init__(self, *, store: OutboxRunner, wechat: WeChatClient, directory: RoomDirectory,
                 rooms_ready: asyncio.Event, on_finished: Callable[[], None], pacer: Pacer,
                 contacts: Callable[[], Mapping[str, ContactSettings]] = dict,
                 attachments: AttachmentsSettings | None = None, download: Download | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._contacts = contacts
        self._attachments = attachments or AttachmentsSettings()
        self._download = download
        self._store = store
        self._wechat = wechat
        self._directory = directory
        self._rooms_ready = rooms_ready
        self._on_finished = on_finished
        self._clock = clock
        self._pacer = pacer
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._said_waiting = False
        #: A delivered row whose outcome is not committed yet (it goes with the next claim), with
        #: its event id and attempt number for the log line.
        self._delivered: tuple[Finish, str, int] | None = None

    def nudge(self) -> None:
        """Look again now: new rows were stored, or rooms became ready."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the send in progress, if any, and claim nothing more."""
        self._stopping = True
        self._wake.set()
        await self._stopped.wait()

    async def run(self) -> None:
        try:
            while not self._stopping:
                self._wake.clear()
                timeout = await self._step()
                if timeout is not None and timeout <= 0:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
        finally:
            try:
                # Also when cancelled: a message that reached WeChat must not be found in doubt
                # at the next start, and sent again.
                await self._commit_delivered()
            finally:
                self._stopped.set()

    async def _step(self) -> float | None:
        """Expire, then send one due row; returns how long to sleep (None: until nudged, 0: go on)."""
        now = self._clock()
        ready = self._rooms_ready.is_set()
        paced_until, blocked, claiming = self._pace(now) if ready else (None, (), False)
        if await self._expire_and_send(now, blocked, claiming=claiming):
            return 0
        await self._commit_delivered()
        next_attempt, next_expiry = await self._call(Outbox.next_wakeup, skip_rooms=blocked)
        if ready and next_attempt is not None and paced_until is not None:
            next_attempt = max(next_attempt, paced_until)
        elif ready and paced_until is not None and blocked:
            next_attempt = paced_until  # a row of a paced room may be due
        if not ready and next_attempt is not None and not self._said_waiting:
            state = self._wechat.state
            log.info("deliveries wait in the outbox until WeChat is logged in and its rooms are read (WeChat: %s%s)",
                     state.state, f", {state.reason}" if state.reason else "")
        self._said_waiting = not ready and next_attempt is not None
        wake_at = [t for t in (next_expiry, next_attempt if ready else None) if t is not None]
        return max(min(wake_at) - self._clock(), 0.01) if wake_at else None

    def _pace(self, now: float) -> tuple[float | None, tuple[str, ...], bool]:
        """(until when pacing holds something back, the rooms paced now, whether to claim at all)."""
        pause = self._pacer.global_wait(now)
        if pause > 0:
            return now + pause, (), False
        waits = self._pacer.blocked_rooms(self._pacer.known_rooms, now)
        return (now + min(waits.values()) if waits else None), tuple(waits), True

    async def _expire_and_send(self, now: float, blocked: tuple[str, ...], *, claiming: bool) -> bool:
        """Expire what is due, then (`claiming`) send the next due row or digest; False: nothing sent."""
        digest = self._pacer.settings.digest
        if claiming and not (digest.enabled and self._pacer.enabled):  # no pace, no backlog to fold
            # The usual step, in one trip to the outbox thread: expire, commit the last outcome, claim.
            finish = self._delivered[0] if self._delivered is not None else None
            expired, row = await self._call(Outbox.expire_and_claim, now, skip_rooms=blocked, finish=finish)
            delivered, self._delivered = self._delivered, None
            self._expired(expired)
            if row is None:
                self._announce(delivered)
                return False
            # The last outcome's log line and report are not on the way to the next send: they run
            # while the loop waits for the gateway to answer it.
            asyncio.get_running_loop().call_soon(self._announce, delivered)
            await self._attempt(row)
            return True
        await self._commit_delivered()
        self._expired(await self._call(Outbox.expire_due, now))
        if not claiming:
            return False
        fit = functools.partial(digest_fit, settings=digest, max_chars=self._pacer.settings.max_text_chars)
        folded = await self._call(Outbox.claim_digest, now, skip_rooms=blocked,
                                  threshold=digest.threshold, limit=digest.max_items, fit=fit)
        if folded:
            await self._attempt_digest(folded)
            return True
        row = await self._call(Outbox.claim, now, skip_rooms=blocked)
        if row is None:
            return False
        await self._attempt(row)
        return True

    def _expired(self, rows: list[OutboxRow]) -> None:
        for gone in rows:
            log.warning("delivery %s to room %r expired: %s", gone.event_id, gone.room_key, gone.error)
        if rows:
            self._on_finished()

    async def _commit_delivered(self) -> None:
        """Commit the last delivered outcome on its own: no claim follows it now."""
        if self._delivered is not None:
            await self._call(Outbox.finish, self._delivered[0])
            delivered, self._delivered = self._delivered, None
            self._announce(delivered)

    def _announce(self, delivered: tuple[Finish, str, int] | None) -> None:
        """A delivered outcome is on disk: log it and let the reporter publish it."""
        if delivered is None:
            return
        finish, event_id, attempt = delivered
        log.info("delivered %s to room %r%s", event_id, finish.room.key,
                 f" at attempt {attempt}" if attempt > 1 else "")
        self._on_finished()

    async def _attempt(self, row: OutboxRow) -> None:
        assert row.text is not None
        attempt = row.attempts + 1
        try:
            room = self._directory.resolve(row.room_key)
        except RoomNotAvailable as exc:
            await self._call(Outbox.mark_finished, row.seq, "rejected", now=self._clock(), room=RoomRef(row.room_key),
                             error=str(exc), attempted=False)
            log.info("delivery %s rejected: %s", row.event_id, exc)
            self._on_finished()
            return
        ref = RoomRef(row.room_key, room.id, room.topic)
        if row.doubts:
            log.warning("delivery %s to room %r was in doubt (%s): sending it again, once (WeChat may show it "
                        "twice)", row.event_id, row.room_key, row.error)
        try:
            await self._send(row, room.id)
        except SendInDoubt as exc:
            await self._in_doubt([row], ref, exc, f"delivery {row.event_id}")
            return
        except EventRejected as exc:
            await self._call(Outbox.mark_finished, row.seq, "rejected", now=self._clock(), room=ref,
                             error=str(exc), attempted=False)
            log.info("delivery %s rejected: %s", row.event_id, exc)
            self._on_finished()
            return
        except GatewayUnavailable as exc:
            log.info("delivery %s to room %r waits: %s", row.event_id, row.room_key, exc)
            await self._call(Outbox.mark_retry, row.seq, error=str(exc), attempted=False,
                             retry_at=self._clock() + UNAVAILABLE_PAUSE_SECONDS)
            return
        except SendError as exc:
            if await self._send_failed(row, ref, exc):
                self._on_finished()
            return
        log.debug("sent to room %r: %s%s", row.room_key, row.text,
                  f" + {row.attachment.kind} {row.attachment.name}" if row.attachment else "")
        self._delivered = (Finish(row.seq, "delivered", self._clock(), ref), row.event_id, attempt)

    async def _in_doubt(self, rows: list[OutboxRow], ref: RoomRef, exc: SendInDoubt, what: str) -> None:
        """The send timed out or was cut off: WeChat may have it. The link dropped the connection;
        the rows go out again after the reconnect and login, or end failed if in doubt before."""
        first = rows[0]
        log.warning("%s to room %r waits: lost the gateway while sending: %s; in doubt (WeChat may have it), so it "
                    "is sent again once after the gateway reconnects", what, first.room_key, exc)
        now = self._clock()
        given_up = await self._call(Outbox.mark_in_doubt, [row.seq for row in rows], now=now,
                                    retry_at=now + UNAVAILABLE_PAUSE_SECONDS, error=str(exc), room=ref)
        for row in given_up:
            log.warning("delivery %s to room %r failed: %s", row.event_id, row.room_key, row.error)
        if given_up:
            self._on_finished()

    async def _send_failed(self, row: OutboxRow, ref: RoomRef, exc: SendError, failed_at: float | None = None) -> bool:
        """Retry `row` later (counted from `failed_at`, default now), or finish it `failed` when its
        attempts are used up (returns True)."""
        attempt = row.attempts + 1
        if exc.transient and attempt < row.max_attempts:
            delay = row.policy.retry_delay(attempt)
            log.warning("delivery %s to room %r: attempt %d of %d failed: %s; retrying in %.1f s",
                        row.event_id, row.room_key, attempt, row.max_attempts, exc, delay)
            await self._call(Outbox.mark_retry, row.seq, error=str(exc),
                             retry_at=(self._clock() if failed_at is None else failed_at) + delay)
            return False
        error = (f"gave up after {attempt} attempt(s); last error: {exc}" if exc.transient
                 else f"{exc} (not retried)")
        log.warning("delivery %s to room %r failed: %s", row.event_id, row.room_key, error)
        await self._call(Outbox.mark_finished, row.seq, "failed", now=self._clock(), room=ref, error=error,
                         attempted=True)
        return True

    async def _attempt_digest(self, rows: list[OutboxRow]) -> None:
        """Send `rows` (one room, plain texts) as one digest message; each row gets its own outcome."""
        first = rows[0]
        digest_id = str(first.seq)
        try:
            room = self._directory.resolve(first.room_key)
        except RoomNotAvailable as exc:
            for row in rows:
                await self._call(Outbox.mark_finished, row.seq, "rejected", now=self._clock(),
                                 room=RoomRef(row.room_key), error=str(exc), attempted=False)
            log.info("digest %s of %d deliveries rejected: %s", digest_id, len(rows), exc)
            self._on_finished()
            return
        ref = RoomRef(first.room_key, room.id, room.topic)
        text = format_digest([row.text or "" for row in rows], self._pacer.settings.digest)
        if any(row.doubts for row in rows):
            log.warning("digest %s to room %r holds deliveries that were in doubt: sending them again, once "
                        "(WeChat may show them twice)", digest_id, first.room_key)
        try:
            await self._send_paced(room.id, first.room_key, text)
        except SendInDoubt as exc:
            await self._in_doubt(rows, ref, exc, f"digest {digest_id}")
            return
        except EventRejected as exc:
            for row in rows:
                await self._call(Outbox.mark_finished, row.seq, "rejected", now=self._clock(), room=ref,
                                 error=str(exc), attempted=False)
            log.info("digest %s rejected: %s", digest_id, exc)
            self._on_finished()
            return
        except GatewayUnavailable as exc:
            log.info("digest %s to room %r waits: %s", digest_id, first.room_key, exc)
            retry_at = self._clock() + UNAVAILABLE_PAUSE_SECONDS  # one time for all: due together, fold again
            for row in rows:
                await self._call(Outbox.mark_retry, row.seq, error=str(exc), attempted=False, retry_at=retry_at)
            return
        except SendError as exc:
            failed_at = self._clock()  # one time for all: rows with equal backoffs are due together, fold again
            finished = [await self._send_failed(row, ref, exc, failed_at) for row in rows]
            if any(finished):
                self._on_finished()
            return
        await self._call(Outbox.mark_delivered_many, [row.seq for row in rows], now=self._clock(), room=ref,
                         digest=digest_id)
        log.info("delivered %d deliveries to room %r as digest %s (%s)", len(rows), first.room_key, digest_id,
                 ", ".join(row.event_id for row in rows))
        self._on_finished()

    async def _send(self, row: OutboxRow, room_id: str) -> None:
        """The text (with its mentions), then the attachment; a text already sent is not sent again."""
        assert row.text is not None
        attachment = row.attachment
        data = await self._attachment_bytes(attachment) if attachment is not None else None
        if row.text.strip() and not row.text_sent:
            mentions = await self._mentions(row, room_id) if row.mentions else []
            await self._send_paced(room_id, row.room_key, row.text, mentions)
            if attachment is not None:
                await self._call(Outbox.mark_text_sent, row.seq)
        if attachment is not None and data is not None:
            await asyncio.sleep(self._pacer.wait(row.room_key, self._clock()))
            try:
                await self._wechat.send_file(room_id, attachment.name, data)
            finally:
                self._pacer.sent(row.room_key, self._clock())

    async def _mentions(self, row: OutboxRow, room_id: str) -> list[WeChatContact]:
        """The room members to @-mention; a configured contact who is not in the room rejects the delivery."""
        members = await self._wechat.room_members(room_id)
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

    async def _send_paced(self, room_id: str, room_key: str, text: str,
                          mentions: list[WeChatContact] | None = None) -> None:
        """Send `text`, in numbered parts when it is too long; the first part (which carries the mentions)
        was paced by `_step`."""
        pacing = self._pacer.settings
        for index, part in enumerate(split_text(text, pacing.max_text_chars, pacing.part_marker)):
            if index:
                await asyncio.sleep(self._pacer.wait(room_key, self._clock()))
            try:
                await self._wechat.send_text(room_id, part, (mentions or []) if index == 0 else [])
            finally:
                self._pacer.sent(room_key, self._clock())  # a refused send spoke to WeChat too

    async def _call(self, method: Callable[Concatenate[Outbox, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """An outbox call, retried until it works: an outcome not written would leave its row stuck."""
        while True:
            try:
                return await self._store.run(method, *args, **kwargs)
            except OutboxError as exc:
                log.error("%s; retrying in %.0f s", exc, OUTBOX_RETRY_SECONDS)
                await asyncio.sleep(OUTBOX_RETRY_SECONDS)


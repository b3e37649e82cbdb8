"""One person's long poll, run the way `monitorWeixinProvider` (src/monitor/monitor.ts) runs it.

- Poll with the stored `get_updates_buf`; the next poll lasts the answer's `longpolling_timeout_ms`.
- Each message renews the person's window and budget (`Window.record_inbound`) with its
  `context_token`, at the message's `create_time_ms` (the server's clock decides the window).
- The cursor moves on disk only after `events.message` returned for every message of the batch:
  a crash in between hands the batch out again, never loses it, so `message` must be idempotent on
  `InboundMessage.message_id` (the outbox's idempotency key, say).
- errcode -14: `events.session_expired(until)`, no call until `until` (stale_pause), then one
  more try; a poll that works again says `events.session_restored()`.
- Other failures: 2 s between tries, 30 s after 3 in a row (monitor.ts's numbers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bridge.errors import SendError
from bridge.wechat.ilink.api import LONG_POLL_SECONDS, IlinkClient
from bridge.wechat.ilink.credentials import CredentialStore
from bridge.wechat.ilink.errors import SessionExpired
from bridge.wechat.ilink.models import InboundMessage
from bridge.wechat.ilink.window import Gate, Window


@dataclass(frozen=True, slots=True)
class PollTuning:
    """monitor.ts's RETRY_DELAY_MS, BACKOFF_DELAY_MS and MAX_CONSECUTIVE_FAILURES."""

    retry_seconds: float = 2.0
    backoff_seconds: float = 30.0
    failures_before_backoff: int = 3


class PollEvents(Protocol):
    """What the poll tells its owner."""

    async def message(self, message: InboundMessage) -> None:
        """The person wrote; called again for the same message after a crash (see the docstring)."""

    async def session_expired(self, until: float) -> None:
        """errcode -14: the person is logged out for now; no call before `until` (epoch seconds)."""

    async def session_restored(self) -> None:
        """A poll works again after an expiry."""


class Poller:
    """The long poll of one bound person; `run` until cancelled."""

    def __init__(self, *, client: IlinkClient, store: CredentialStore, name: str, window: Window,
                 events: PollEvents, tuning: PollTuning = PollTuning(),
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._client = client
        self._store = store
        self._name = name
        self._window = window
        self._events = events
        self._tuning = tuning
        self._clock = clock
        self._sleep = sleep
        self._poll_seconds = LONG_POLL_SECONDS
        self._failures = 0
        self._expired = False

    async def run(self) -> None:
        while True:
            await self.poll_once()

    async def poll_once(self) -> None:
        """One poll, or the wait that stands in for it (a pause, a backoff)."""
        now = self._clock()
        left = self._window.remaining(now)
        if left.gate is Gate.PAUSED and left.retry_at is not None:
            await self._sleep(left.retry_at - now)
            return
        cursor = self._store.load_cursor(self._name)
        try:
            updates = await self._client.get_updates(cursor.get_updates_buf, poll_seconds=self._poll_seconds)
        except SessionExpired:
            self._expired = True
            await self._events.session_expired(self._window.session_expired(self._clock()))
            return
        except SendError:
            self._failures += 1
            if self._failures >= self._tuning.failures_before_backoff:
                self._failures = 0
                await self._sleep(self._tuning.backoff_seconds)
            else:
                await self._sleep(self._tuning.retry_seconds)
            return
        self._failures = 0
        if self._expired:
            self._expired = False
            self._window.session_restored()
            await self._events.session_restored()
        if updates.longpolling_timeout_ms:
            self._poll_seconds = updates.longpolling_timeout_ms / 1000
        for message in updates.messages:
            at = self._clock()
            if message.create_time_ms is not None:
                at = min(message.create_time_ms / 1000, at)  # never in our future
            self._window.record_inbound(message.context_token, at)
            await self._events.message(message)
        changes: dict[str, object] = {"get_updates_buf": updates.cursor}
        if updates.messages:
            changes |= {"context_token": self._window.context_token,
                        "last_inbound_at": self._window.last_inbound_at, "spent": 0}
        self._store.update_cursor(self._name, **changes)

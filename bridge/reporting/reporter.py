"""Finished outbox rows -> one report each on <base>/bridge/delivery, marked once the broker has it.

A row is marked reported only after the broker acknowledged its report (QoS 1 PUBACK), so a
crash or a broker outage between the two means the report is published again at the next
start: reports are at least once, and the same report may arrive twice (same id, room, status).
The MQTT session never gives a publish up: one cut off by a disconnect is sent again after the
reconnect, so a report's future only ever completes. An outbox that cannot be read or written is
retried after a pause; the rows not marked yet are published again.
A delivery also sent through the fallback carries that outcome in its report (`fallback`); the
outbox holds its row back until both are final (`bridge.outbox.fallback_ledger`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bridge.errors import BridgeError
from bridge.events import DeliveryReport, Publication
from bridge.metrics import Metrics
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.reporting import payloads as reports
from bridge.tasks import wake_loop
from bridge.topics import Topics

log = logging.getLogger(__name__)

#: Reports taken from the outbox at a time.
BATCH = 100
#: Pause before trying again after the outbox failed (disk full, an I/O error).
RETRY_SECONDS = 1.0
#: After publishing, wait this long before looking again: during a burst of sends the reports
#: finished meanwhile go out as one batch (one outbox read, one mark) instead of one by one. A
#: report after a quiet spell goes out at once.
GATHER_SECONDS = 0.02

#: Queues a report for publishing; the future is done once the broker acknowledged it (it waits
#: across reconnects: the session sends a publish again until the broker has it).
PublishReport = Callable[[DeliveryReport], Awaitable[asyncio.Future[None]]]
#: Told of each report as it is published, with the text that was (to be) sent (the status page).
ReportObserver = Callable[[DeliveryReport, str | None], None]


class DeliveryPublisher:
    """A report as the publication on `<base>/bridge/delivery`, queued on the MQTT session."""

    def __init__(self, topics: Topics, publish: Callable[[Publication], Awaitable[asyncio.Future[None]]]) -> None:
        self._topics = topics
        self._publish = publish

    async def __call__(self, report: DeliveryReport) -> asyncio.Future[None]:
        return await self._publish(reports.delivery_publication(self._topics, report))


class Reporter:
    def __init__(self, *, store: OutboxRunner, publish: PublishReport,
                 clock: Callable[[], float] = time.time, metrics: Metrics | None = None,
                 observe: ReportObserver | None = None) -> None:
        self._store = store
        self._publish = publish
        self._metrics = metrics or Metrics()
        self._observe = observe
        self._clock = clock
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    def nudge(self) -> None:
        """Rows were finished: publish their reports."""
        self._idle.clear()
        self._wake.set()

    async def drain(self) -> None:
        """Wait until every finished row's report has been acknowledged by the broker."""
        self.nudge()
        await self._idle.wait()

    async def run(self) -> None:
        await wake_loop(self._step, wake=self._wake, what="delivery reports", log=log, retry_after=RETRY_SECONDS,
                        errors=(BridgeError,))

    async def _step(self) -> float | None:
        if not await self._publish_batch():
            self._idle.set()
            return None
        await asyncio.sleep(GATHER_SECONDS)  # not cut short by nudges: a burst's reports go out together
        return 0

    async def _publish_batch(self) -> int:
        rows = await self._store.run(Outbox.unreported, BATCH)
        fallback = await self._store.run(Outbox.fallback_outcomes, [row.seq for row in rows]) if rows else {}
        confirmations = []
        for row in rows:
            report = row.report()
            if row.seq in fallback:
                report = replace(report, fallback=fallback[row.seq])
            confirmations.append((row, report, await self._publish(report)))
        # Mark as the broker confirms: whatever is confirmed while one commit runs goes into the next.
        index = 0
        while index < len(confirmations):
            await confirmations[index][2]
            done = []
            while index < len(confirmations) and confirmations[index][2].done():
                row, report, _ = confirmations[index]
                done.append(row.seq)
                index += 1
            await self._store.run(Outbox.mark_reported, done, now=self._clock())
            # Counted once marked: a publish given up is published again, and must not count twice.
            for row, report, _ in confirmations[index - len(done):index]:
                self._metrics.delivery(report)
                if self._observe is not None:
                    self._observe(report, row.text)
        return len(rows)

"""Finished outbox rows -> one report each on <base>/bridge/delivery, marked once the broker has it.

A row is marked reported only after the broker acknowledged its report (QoS 1 PUBACK), so a
crash or a broker outage between the two means the report is published again at the next
start: reports are at least once, and the same report may arrive twice (same id, room, status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bridge.errors import OutboxError
from bridge.events import DeliveryReport
from bridge.metrics import Metrics
from bridge.outbox import Outbox, OutboxRunner

log = logging.getLogger(__name__)

#: Reports taken from the outbox at a time.
BATCH = 100
OUTBOX_RETRY_SECONDS = 1.0
#: After publishing, wait this long before looking again: during a burst of sends the reports
#: finished meanwhile go out as one batch (one outbox read, one mark) instead of one by one. A
#: report after a quiet spell goes out at once.
GATHER_SECONDS = 0.02

#: Queues a report for publishing; the future is done once the broker acknowledged it.
PublishReport = Callable[[DeliveryReport], Awaitable[asyncio.Future[None]]]
#: Told of each report as it is published, with the text that was (to be) sent (the status page).
ReportObserver = Callable[[DeliveryReport, str | None], None]


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
        while True:
            self._wake.clear()
            try:
                published = await self._publish_batch()
            except OutboxError as exc:
                log.error("%s; retrying in %.0f s", exc, OUTBOX_RETRY_SECONDS)
                await asyncio.sleep(OUTBOX_RETRY_SECONDS)
                continue
            if not published:
                self._idle.set()
                await self._wake.wait()
            else:
                await asyncio.sleep(GATHER_SECONDS)

    async def _publish_batch(self) -> int:
        rows = await self._store.run(Outbox.unreported, BATCH)
        confirmations = []
        for row in rows:
            report = row.report()
            confirmations.append((row.seq, await self._publish(report)))
            self._metrics.delivery(report)
            if self._observe is not None:
                self._observe(report, row.text)
        # Mark as the broker confirms: whatever is confirmed while one commit runs goes into the next.
        index = 0
        while index < len(confirmations):
            await confirmations[index][1]
            done = []
            while index < len(confirmations) and confirmations[index][1].done():
                done.append(confirmations[index][0])
                index += 1
            await self._store.run(Outbox.mark_reported, done, now=self._clock())
        return len(rows)

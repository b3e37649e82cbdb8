"""The reporter in process: a real outbox on a temporary file, a fake broker that acknowledges,
holds or gives up each publish. What is asserted is what the broker got, in which order, and which
rows the outbox counts as reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.errors import BridgeError
from bridge.events import DeliveryReport, Rejected, RoomRef
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.reporting import reporter as reporter_module
from bridge.reporting.reporter import Reporter
from tests.unit.fakes import T0, open_outbox, store_reports


class PublishGivenUp(BridgeError):
    """What a session that abandons a publish fails its future with."""


class FakeBroker:
    """Records every publish; acknowledges at once unless `hold` (then `ack_all`), fails the next `fail` ones."""

    def __init__(self) -> None:
        self.published: list[DeliveryReport] = []
        self.hold = False
        self.fail = 0
        self._held: list[asyncio.Future[None]] = []
        self.changed = asyncio.Condition()

    async def publish(self, report: DeliveryReport) -> asyncio.Future[None]:
        self.published.append(report)
        async with self.changed:
            self.changed.notify_all()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            self.fail -= 1
            done.set_exception(PublishGivenUp("the MQTT session gave the publish up"))
        elif self.hold:
            self._held.append(done)
        else:
            done.set_result(None)
        return done

    def ack_all(self) -> None:
        for done in self._held:
            done.set_result(None)
        self._held.clear()


def rejected(event_id: str, error: str = "the payload is not JSON") -> Rejected:
    return Rejected(event_id=event_id, route="alerts", topic="home/alert", room_key="ops", error=error)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[OutboxRunner]:
    runner = await open_outbox(tmp_path)
    yield runner
    await runner.close()


@pytest.fixture
async def running(outbox: OutboxRunner) -> AsyncIterator[tuple[Reporter, FakeBroker]]:
    broker = FakeBroker()
    reporter = Reporter(store=outbox, publish=broker.publish, clock=lambda: T0 + 1)
    task = asyncio.create_task(reporter.run())
    yield reporter, broker
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_reports_are_published_in_order_and_marked_once_acknowledged(
        outbox: OutboxRunner, running: tuple[Reporter, FakeBroker]) -> None:
    reporter, broker = running
    reports = [rejected("ev-1"), rejected("ev-2", "unknown room key 'attic'"), rejected("ev-3")]
    await store_reports(outbox, *reports)
    async with asyncio.timeout(10):
        await reporter.drain()
    assert [(r.id, r.status, r.route, r.topic, r.room, r.error, r.ts) for r in broker.published] == [
        (r.event_id, "rejected", r.route, r.topic, RoomRef(r.room_key), r.error, T0) for r in reports]
    assert await outbox.run(Outbox.unreported) == []
    await store_reports(outbox, rejected("ev-4"))  # finished later: published when nudged
    async with asyncio.timeout(10):
        await reporter.drain()
    assert [r.id for r in broker.published] == ["ev-1", "ev-2", "ev-3", "ev-4"]


async def test_drain_waits_until_the_broker_acknowledged(outbox: OutboxRunner,
                                                         running: tuple[Reporter, FakeBroker]) -> None:
    reporter, broker = running
    broker.hold = True
    await store_reports(outbox, rejected("ev-1"), rejected("ev-2"))
    drained = asyncio.create_task(reporter.drain())
    async with asyncio.timeout(10), broker.changed:
        await broker.changed.wait_for(lambda: len(broker.published) == 2)
    assert not drained.done()
    assert [r.event_id for r in await outbox.run(Outbox.unreported)] == ["ev-1", "ev-2"]
    broker.ack_all()
    async with asyncio.timeout(10):
        await drained
    assert await outbox.run(Outbox.unreported) == []
    assert [r.id for r in broker.published] == ["ev-1", "ev-2"]  # each once


async def test_a_publish_given_up_is_published_again(outbox: OutboxRunner, running: tuple[Reporter, FakeBroker],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reporter_module, "RETRY_SECONDS", 0.01)
    reporter, broker = running
    broker.fail = 1
    await store_reports(outbox, rejected("ev-1"), rejected("ev-2"))
    async with asyncio.timeout(10):
        await reporter.drain()
    # ev-1's publish failed, so the batch is published again: at least once, never zero times.
    assert [r.id for r in broker.published] == ["ev-1", "ev-2", "ev-1", "ev-2"]
    assert await outbox.run(Outbox.unreported) == []

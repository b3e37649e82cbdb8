"""The delivery worker in process: a fake clock, a fake WeChat, a real outbox on a temporary file.

Each test drives the worker step by step (or runs it and cancels it) and asserts what a person
would see: the texts that reached WeChat, each row's status and error, and the reports.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bridge.chat import WeChatContact, WeChatRoom
from bridge.config.models import DigestSettings, PacingSettings
from bridge.config.rooms import ContactSettings, RoomSettings
from bridge.delivery.pacing import Pacer
from bridge.delivery.ports import Store
from bridge.delivery.worker import DeliveryWorker
from bridge.errors import GatewayUnavailable, SendError, SendInDoubt
from bridge.events import DeliveryPolicy, DeliveryReport, RoomRef
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.wechat.rooms import RoomDirectory
from tests.unit.fakes import T0, FakeClock, FakeWeChat, GatedRunner, enqueue, open_outbox, rows, statuses

OPS = RoomRef("ops", "ops@chatroom", "Ops")
FAMILY = RoomRef("family", "family@chatroom", "Family")
NO_PACING = PacingSettings(enabled=False)


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[OutboxRunner]:
    runner = await open_outbox(tmp_path)
    yield runner
    await runner.close()


@dataclass
class Rig:
    outbox: OutboxRunner
    worker: DeliveryWorker
    wechat: FakeWeChat
    clock: FakeClock
    ready: asyncio.Event
    finished: list[float] = field(default_factory=list)

    async def reports(self) -> list[DeliveryReport]:
        return [row.report() for row in await rows(self.outbox) if row.status != "pending"]


def rig(outbox: OutboxRunner, *, pacing: PacingSettings = NO_PACING, wechat: FakeWeChat | None = None,
        contacts: Mapping[str, ContactSettings] | None = None, store: GatedRunner | None = None,
        ready: bool = True) -> Rig:
    directory = RoomDirectory()
    directory.update([WeChatRoom("ops@chatroom", "Ops", 3), WeChatRoom("family@chatroom", "Family", 4)],
                     {"ops": RoomSettings(topic="Ops"), "family": RoomSettings(topic="Family"),
                      "gone": RoomSettings(topic="Gone")})
    clock, wechat = FakeClock(), wechat or FakeWeChat()
    rooms_ready = asyncio.Event()
    if ready:
        rooms_ready.set()
    finished: list[float] = []
    worker = DeliveryWorker(store=store or outbox, wechat=wechat, directory=directory, rooms_ready=rooms_ready,
                            on_finished=lambda: finished.append(clock.now()),
                            pacer=Pacer(pacing, rng=random.Random(3)), contacts=lambda: contacts or {},
                            clock=clock)
    return Rig(outbox, worker, wechat, clock, rooms_ready, finished)


def report(event_id: str, status: str, error: str | None = None, *, room: RoomRef = OPS, ts: float = T0,
           digest: str | None = None) -> DeliveryReport:
    return DeliveryReport(id=event_id, status=status, route="alerts", topic="home/alert", room=room, error=error, ts=ts,  # type: ignore[arg-type]
                          digest=digest)


# --------------------------------------------------------------------------- sent, refused, retried


async def test_a_delivered_row_is_committed_with_the_next_claim_then_reported(outbox: OutboxRunner) -> None:
    r = rig(outbox)
    first, second = await enqueue(outbox, "Water leak in the kitchen", "Door open")
    assert await r.worker.step() == 0
    assert r.wechat.texts == [("ops@chatroom", "Water leak in the kitchen", [])]
    # Sent, not yet committed: nothing is told before it is on disk.
    assert [row.status for row in await rows(outbox)] == ["pending", "pending"] and r.finished == []
    commits = (await outbox.run(Outbox.stats, T0)).commits
    assert await r.worker.step() == 0
    # The first outcome went into the transaction that claimed the second row: one commit.
    assert (await outbox.run(Outbox.stats, T0)).commits == commits + 1
    assert statuses(await rows(outbox)) == [(first, "delivered", None), (second, "pending", None)]
    assert r.finished == [T0]
    assert await r.worker.step() is None  # nothing left: committed on its own, then sleep until nudged
    assert await r.reports() == [report(first, "delivered"), report(second, "delivered")]
    assert r.wechat.sent == ["Water leak in the kitchen", "Door open"]


async def test_a_refused_send_ends_failed_with_the_sentence(outbox: OutboxRunner) -> None:
    r = rig(outbox, wechat=FakeWeChat(failures=[SendError("WeChat refused the message: text too long",
                                                                 transient=False)]))
    [event] = await enqueue(outbox, "Water leak")
    assert await r.worker.step() == 0
    assert r.wechat.texts == []
    assert await r.reports() == [report(event, "failed", "WeChat refused the message: text too long (not retried)")]
    assert [row.attempts for row in await rows(outbox)] == [1]
    assert r.finished == [T0]
    assert await r.worker.step() is None
    assert r.wechat.tried == ["Water leak"]  # not sent again


async def test_a_transient_failure_is_retried_at_the_backoff_then_delivered(outbox: OutboxRunner) -> None:
    r = rig(outbox, wechat=FakeWeChat(failures=[SendError("the gateway is busy", transient=True)]))
    [event] = await enqueue(outbox, "Water leak", policy=DeliveryPolicy(attempts=3, backoff=5.0, max_backoff=60.0))
    assert await r.worker.step() == 0
    [row] = await rows(outbox)
    assert (row.status, row.attempts, row.error, row.next_attempt_at) == ("pending", 1, "the gateway is busy",
                                                                         T0 + 5.0)
    assert await r.worker.step() == pytest.approx(5.0)  # sleeps until the retry is due
    r.clock.advance(5.0)
    assert await r.worker.step() == 0
    assert await r.worker.step() is None
    assert r.wechat.sent == ["Water leak"]
    [row] = await rows(outbox)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert await r.reports() == [report(event, "delivered", ts=T0 + 5.0)]


async def test_transient_failures_end_failed_when_the_attempts_are_used_up(outbox: OutboxRunner) -> None:
    busy = [SendError("the gateway is busy", transient=True) for _ in range(2)]
    r = rig(outbox, wechat=FakeWeChat(failures=busy))
    [event] = await enqueue(outbox, "Water leak", policy=DeliveryPolicy(attempts=2, backoff=3.0, max_backoff=60.0))
    assert await r.worker.step() == 0
    r.clock.advance(3.0)
    assert await r.worker.step() == 0
    assert await r.reports() == [report(event, "failed", "gave up after 2 attempt(s); last error: the gateway is "
                                                          "busy", ts=T0 + 3.0)]
    assert r.wechat.tried == ["Water leak", "Water leak"]


async def test_gateway_unavailable_waits_without_spending_an_attempt(outbox: OutboxRunner) -> None:
    r = rig(outbox, wechat=FakeWeChat(failures=[GatewayUnavailable("WeChat is not logged in (logged out)")]))
    await enqueue(outbox, "Water leak")
    assert await r.worker.step() == 0
    [row] = await rows(outbox)
    assert (row.status, row.attempts, row.next_attempt_at, row.error) == (
        "pending", 0, T0 + 1.0, "WeChat is not logged in (logged out)")
    assert r.finished == []


async def test_a_room_that_cannot_be_resolved_ends_rejected(outbox: OutboxRunner) -> None:
    r = rig(outbox)
    [event] = await enqueue(outbox, "Water leak", room="gone")
    assert await r.worker.step() == 0
    assert r.wechat.tried == []
    assert await r.reports() == [report(event, "rejected", "room 'gone': the account is in no room named 'Gone'",
                                        room=RoomRef("gone"))]
    assert [row.attempts for row in await rows(outbox)] == [0]


async def test_mentions_go_in_front_and_an_absent_contact_rejects(outbox: OutboxRunner) -> None:
    wechat = FakeWeChat(members={"ops@chatroom": [WeChatContact("wxid_alice", "Alice")]})
    r = rig(outbox, wechat=wechat, contacts={"alice": ContactSettings(name="Alice"),
                                             "bob": ContactSettings(name="Bob")})
    [sent] = await enqueue(outbox, "Water leak", mentions=("alice",))
    [refused] = await enqueue(outbox, "Door open", mentions=("bob",))
    await r.worker.step()
    await r.worker.step()
    await r.worker.step()
    assert wechat.texts == [("ops@chatroom", "Water leak", ["wxid_alice"])]
    assert await r.reports() == [report(sent, "delivered"), report(
        refused, "rejected", "contact 'bob' (name 'Bob') is not a member of room 'ops'")]


# --------------------------------------------------------------------------- digest, parts, pacing


async def test_a_backlog_goes_out_as_one_digest_with_one_report_each(outbox: OutboxRunner) -> None:
    pacing = PacingSettings(min_gap=0, jitter=0, digest=DigestSettings(threshold=2))
    r = rig(outbox, pacing=pacing)
    events = await enqueue(outbox, "Kitchen: water", "Hall: door open", "Garage: smoke")
    assert await r.worker.step() == 0
    assert r.wechat.texts == [("ops@chatroom", "3 notifications:\n\u2022 Kitchen: water\n\u2022 Hall: door open\n"
                                               "\u2022 Garage: smoke", [])]
    first_seq = (await rows(outbox))[0].seq
    assert await r.reports() == [report(e, "delivered", digest=str(first_seq)) for e in events]
    assert r.finished == [T0]  # one nudge for the digest, after its commit


async def test_a_digest_refused_retries_every_row_at_one_time(outbox: OutboxRunner) -> None:
    pacing = PacingSettings(min_gap=0, jitter=0, digest=DigestSettings(threshold=2))
    r = rig(outbox, pacing=pacing, wechat=FakeWeChat(failures=[SendError("busy", transient=True)]))
    await enqueue(outbox, "a", "b", "c")
    assert await r.worker.step() == 0
    assert {(row.status, row.attempts, row.next_attempt_at) for row in await rows(outbox)} == {
        ("pending", 1, T0 + 2.0)}
    r.clock.advance(2.0)
    assert await r.worker.step() == 0
    assert r.wechat.sent == ["3 notifications:\n\u2022 a\n\u2022 b\n\u2022 c"]  # folded again, sent once


async def test_a_long_text_goes_out_in_numbered_parts_paced_like_sends(outbox: OutboxRunner) -> None:
    pacing = PacingSettings(min_gap=1, jitter=0, max_text_chars=100, global_limit=100, room_limit=100)
    r = rig(outbox, pacing=pacing)
    lines = [f"line {n}: " + "x" * 32 for n in range(1, 7)]  # 40 characters each
    await enqueue(outbox, "\n".join(lines))
    assert await r.worker.step() == 0
    assert r.wechat.sent == [f"(1/3) {lines[0]}\n{lines[1]}", f"(2/3) {lines[2]}\n{lines[3]}",
                             f"(3/3) {lines[4]}\n{lines[5]}"]
    assert r.clock.slept == [1.0, 1.0]  # the gap between parts, as between sends


async def test_pacing_holds_a_room_while_another_rooms_row_goes_out(outbox: OutboxRunner) -> None:
    pacing = PacingSettings(min_gap=0, jitter=0, room_limit=1, period=60, digest=DigestSettings(enabled=False))
    r = rig(outbox, pacing=pacing)
    await enqueue(outbox, "ops 1", "ops 2")
    await enqueue(outbox, "family 1", room="family")
    assert await r.worker.step() == 0
    assert await r.worker.step() == 0  # ops's bucket is empty: the younger family row goes first
    assert r.wechat.texts == [("ops@chatroom", "ops 1", []), ("family@chatroom", "family 1", [])]
    assert await r.worker.step() == pytest.approx(60.0)  # until ops's bucket holds a send again
    assert [row.sending_since for row in await rows(outbox)][1] is None  # never marked while it waits
    r.clock.advance(60.0)
    assert await r.worker.step() == 0
    assert r.wechat.sent == ["ops 1", "family 1", "ops 2"]


async def test_a_held_room_is_woken_when_its_bucket_refills_not_at_another_rooms_later_retry(
        outbox: OutboxRunner) -> None:
    pacing = PacingSettings(min_gap=0, jitter=0, room_limit=1, period=60, digest=DigestSettings(enabled=False))
    r = rig(outbox, pacing=pacing, wechat=FakeWeChat(failures=[SendError("busy", transient=True)]))
    await enqueue(outbox, "family 1", room="family",
                  policy=DeliveryPolicy(attempts=3, backoff=300.0, max_backoff=600.0))
    assert await r.worker.step() == 0  # family 1: refused, retried in 300 s
    r.clock.advance(60.0)  # family's bucket is full again; its row is not due yet
    await enqueue(outbox, "ops 1", "ops 2", now=r.clock.now())
    assert await r.worker.step() == 0  # ops 1
    # ops 2 is due once ops's bucket refills (60 s); family's retry in 240 s must not hold it back.
    assert await r.worker.step() == pytest.approx(60.0)
    r.clock.advance(60.0)
    assert await r.worker.step() == 0
    assert r.wechat.sent == ["ops 1", "ops 2"]


async def test_the_global_gap_holds_every_room(outbox: OutboxRunner) -> None:
    r = rig(outbox, pacing=PacingSettings(min_gap=2, jitter=0, digest=DigestSettings(enabled=False)))
    await enqueue(outbox, "ops 1")
    await enqueue(outbox, "family 1", room="family")
    assert await r.worker.step() == 0
    assert await r.worker.step() == pytest.approx(2.0)
    assert r.wechat.sent == ["ops 1"]
    r.clock.advance(2.0)
    assert await r.worker.step() == 0
    assert r.wechat.sent == ["ops 1", "family 1"]


# --------------------------------------------------------------------------- expiry, waiting


async def test_a_row_past_expire_after_ends_expired_while_wechat_is_not_ready(outbox: OutboxRunner) -> None:
    r = rig(outbox, ready=False)
    [event] = await enqueue(outbox, "Water leak", policy=DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0,
                                                                        expire_after=600.0))
    assert await r.worker.step() == pytest.approx(600.0)  # nothing is sent; woken for the expiry
    r.clock.advance(600.0)
    assert await r.worker.step() is None
    assert r.wechat.tried == []
    assert await r.reports() == [report(event, "expired", "not delivered within 10m (expire_after) after "
                                                           "0 attempt(s)", room=RoomRef("ops"), ts=T0 + 600.0)]
    assert r.finished == [T0 + 600.0]


async def test_rows_wait_while_wechat_is_not_ready_and_say_so_once(outbox: OutboxRunner,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    r = rig(outbox, ready=False)
    await enqueue(outbox, "Water leak")
    with caplog.at_level(logging.INFO, logger="bridge.delivery.worker"):
        assert await r.worker.step() is None
        assert await r.worker.step() is None
    assert len([m for m in caplog.messages if m.startswith("deliveries wait")]) == 1
    r.ready.set()
    assert await r.worker.step() == 0
    assert r.wechat.sent == ["Water leak"]


# --------------------------------------------------------------------------- in doubt, cancelled


async def test_in_doubt_is_sent_again_once_then_ends_failed(outbox: OutboxRunner) -> None:
    doubt = "the gateway did not answer within 30 s"
    r = rig(outbox, wechat=FakeWeChat(failures=[SendInDoubt(doubt), SendInDoubt(doubt)]))
    [event] = await enqueue(outbox, "Water leak")
    assert await r.worker.step() == 0
    [row] = await rows(outbox)
    assert (row.status, row.doubts, row.attempts, row.next_attempt_at) == ("pending", 1, 0, T0 + 1.0)
    assert r.finished == []
    assert await r.worker.step() == pytest.approx(1.0)
    r.clock.advance(1.0)
    assert await r.worker.step() == 0
    assert await r.reports() == [report(event, "failed", f"in doubt twice (last: {doubt}): WeChat may show it "
                                        "once, twice or not at all; not sent a third time", ts=T0 + 1.0)]
    assert r.finished == [T0 + 1.0]
    assert await r.worker.step() is None
    assert r.wechat.tried == ["Water leak", "Water leak"]  # never a third time


async def test_in_doubt_once_then_delivered(outbox: OutboxRunner) -> None:
    r = rig(outbox, wechat=FakeWeChat(failures=[SendInDoubt("the connection to the gateway broke")]))
    [event] = await enqueue(outbox, "Water leak")
    await r.worker.step()
    r.clock.advance(1.0)
    await r.worker.step()
    await r.worker.step()
    assert await r.reports() == [report(event, "delivered", ts=T0 + 1.0)]


async def run_until(worker: DeliveryWorker, event: asyncio.Event) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await event.wait()
    return task


async def test_cancelled_mid_send_a_returned_send_is_committed_the_other_in_doubt(outbox: OutboxRunner) -> None:
    wechat = FakeWeChat(block_on="Door open")
    r = rig(outbox, wechat=wechat)
    first, second = await enqueue(outbox, "Water leak", "Door open")
    task = await run_until(r.worker, wechat.blocked)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    found = await rows(outbox)
    assert statuses(found) == [(first, "delivered", None), (second, "pending", None)]
    assert found[1].sending_since is not None
    # The next start finds the second in doubt, and sends it again, once.
    [recovered] = await outbox.run(Outbox.recover, T0 + 10)
    assert (recovered.event_id, recovered.status, recovered.doubts) == (second, "pending", 1)
    again = rig(outbox)
    await again.worker.step()
    await again.worker.step()
    assert again.wechat.sent == ["Door open"]
    assert await again.reports() == [report(first, "delivered"), report(second, "delivered")]


async def test_cancelled_before_the_next_claim_commits_the_delivered_outcome(outbox: OutboxRunner) -> None:
    gated = GatedRunner(outbox)
    wechat = FakeWeChat()
    wechat.on_text = lambda text: setattr(gated, "hold_next", True)  # the outbox thread is busy next
    r = rig(outbox, wechat=wechat, store=gated)
    [event] = await enqueue(outbox, "Water leak")
    task = await run_until(r.worker, gated.held)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert statuses(await rows(outbox)) == [(event, "delivered", None)]
    assert await outbox.run(Outbox.recover, T0 + 10) == []  # nothing in doubt: not sent again
    assert r.finished == [T0]


async def test_stop_lets_the_send_in_progress_finish_and_commits_it(outbox: OutboxRunner) -> None:
    wechat = FakeWeChat()
    r = rig(outbox, wechat=wechat)
    arrived = asyncio.Event()
    wechat.on_text = lambda text: arrived.set()
    [event] = await enqueue(outbox, "Water leak")
    task = await run_until(r.worker, arrived)
    async with asyncio.timeout(10):
        await r.worker.stop()
        await task
    assert statuses(await rows(outbox)) == [(event, "delivered", None)]


async def test_the_store_retries_an_outbox_call_that_failed(outbox: OutboxRunner,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.delivery import ports as delivery_types
    from bridge.errors import OutboxError
    monkeypatch.setattr(delivery_types, "OUTBOX_RETRY_SECONDS", 0.0)
    calls: list[int] = []

    class Flaky:
        async def run(self, method: object, *args: object, **kwargs: object) -> int:
            calls.append(1)
            if len(calls) < 3:
                raise OutboxError("the outbox database x: disk I/O error")
            return 7

    assert await Store(Flaky()).call(Outbox.stats, T0) == 7  # type: ignore[arg-type,comparison-overlap]
    assert len(calls) == 3

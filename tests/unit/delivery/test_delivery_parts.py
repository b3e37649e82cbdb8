"""The worker's parts one by one: pace (`Pacer.pace`), claim (`take` on an outbox), send (its
error ladder) and record (each outcome on the outbox). `test_delivery_worker.py` composes them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bridge.chat import WeChatRoom
from bridge.config.models import DigestSettings, PacingSettings
from bridge.config.rooms import RoomSettings
from bridge.delivery.claim import DigestPlan, take
from bridge.delivery.pacing import Pace, Pacer
from bridge.delivery.ports import Batch, InDoubt, Outcome, Refused, Rejected, Sent, Store, Waiting
from bridge.delivery.record import Record
from bridge.delivery.send import Send
from bridge.errors import EventRejected, GatewayUnavailable, SendError, SendInDoubt
from bridge.events import Attachment, Delivery, DeliveryPolicy, Queued, RoomRef
from bridge.outbox.records import Arrival, Finish, IdempotencyKey
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.wechat.rooms import RoomDirectory
from tests.unit.fakes import POLICY, T0, FakeClock, FakeWeChat, enqueue, open_outbox, rows

OPS = RoomRef("ops", "ops@chatroom", "Ops")

# --------------------------------------------------------------------------- pace


def pacer(**settings: object) -> Pacer:
    return Pacer(PacingSettings.model_validate({"jitter": 0, **settings}), rng=random.Random(7))


def test_pace_claims_nothing_during_the_gap_and_says_until_when() -> None:
    p = pacer(min_gap=2)
    assert p.pace(10.0) == Pace(claim=True)
    p.sent("ops", 10.0)
    assert p.pace(11.0) == Pace(claim=False, until=12.0)
    assert p.pace(12.0) == Pace(claim=True)


def test_pace_names_the_rooms_whose_bucket_is_empty_and_when_the_first_refills() -> None:
    p = pacer(min_gap=0, room_limit=1, period=60)
    p.sent("ops", 0.0)
    p.sent("family", 30.0)
    assert p.pace(40.0) == Pace(claim=True, blocked=("ops", "family"), until=60.0)
    assert p.pace(60.0) == Pace(claim=True, blocked=("family",), until=90.0)


def test_pace_off_holds_nothing() -> None:
    p = pacer(enabled=False)
    p.sent("ops", 0.0)
    assert p.pace(0.0) == Pace(claim=True)


# --------------------------------------------------------------------------- claim


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    opened = Outbox.open(tmp_path / "outbox.sqlite3", idempotency_window=3600.0, max_pending=1000)
    yield opened
    opened.close()


def put(box: Outbox, *texts: str, room: str = "ops", policy: DeliveryPolicy = POLICY) -> None:
    def delivery(text: str) -> Delivery:
        return Delivery(event_id=f"{room}-{text}", route="alerts", source_topic="t", room_key=room, text=text,
                        created_at=T0)

    box.accept([Arrival(key=IdempotencyKey(f"{room}-{text}", by_content=False), dup=False, needs_ack=False,
                        received_at=T0, outcomes=(Queued(delivery=delivery(text), policy=policy),))
                for text in texts], now=T0)


FOLD = DigestPlan(DigestSettings(threshold=2), max_chars=4000)


def test_take_commits_the_last_outcome_with_the_claim_in_one_transaction(box: Outbox) -> None:
    put(box, "a", "b")
    first = take(box, T0, pace=Pace(claim=True), finish=None, digest=None)
    assert first.batch is not None and first.batch.first.text == "a"
    commits = box.commits
    second = take(box, T0, pace=Pace(claim=True), finish=Finish(seq=first.batch.first.seq, status="delivered",
                                                                now=T0, room=OPS),
                  digest=None)
    assert second.batch is not None and second.batch.first.text == "b"
    assert box.commits == commits + 1
    assert [r.status for r in box.unreported()] == ["delivered"]


def test_take_leaves_blocked_rooms_and_claims_nothing_when_held(box: Outbox) -> None:
    put(box, "a")
    put(box, "b", room="family")
    held = take(box, T0, pace=Pace(claim=False, until=1.0), finish=None, digest=None)
    assert held.batch is None
    taken = take(box, T0, pace=Pace(claim=True, blocked=("ops",)), finish=None, digest=None)
    assert taken.batch is not None and [r.text for r in taken.batch.rows] == ["b"]


def test_take_folds_a_backlog_into_a_digest_batch(box: Outbox) -> None:
    put(box, "a", "b", "c")
    taken = take(box, T0, pace=Pace(claim=True), finish=None, digest=FOLD)
    assert taken.batch is not None and taken.batch.digest
    assert [r.text for r in taken.batch.rows] == ["a", "b", "c"]
    assert taken.batch.digest_id == str(taken.batch.first.seq)


def test_take_claims_one_row_when_the_backlog_is_under_the_threshold(box: Outbox) -> None:
    put(box, "a", "b")
    taken = take(box, T0, pace=Pace(claim=True), finish=None, digest=FOLD)
    assert taken.batch is not None and not taken.batch.digest and taken.batch.first.text == "a"


def test_take_expires_also_when_it_claims_nothing(box: Outbox) -> None:
    put(box, "a", policy=DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0, expire_after=60.0))
    taken = take(box, T0 + 60, pace=Pace(claim=False), finish=None, digest=None)
    assert [(r.text, r.status) for r in taken.expired] == [("a", "expired")] and taken.batch is None


# --------------------------------------------------------------------------- send


def sender(wechat: FakeWeChat, runner: OutboxRunner) -> Send:
    directory = RoomDirectory()
    directory.update([WeChatRoom("ops@chatroom", "Ops", 3)],
                     {"ops": RoomSettings(topic="Ops"), "gone": RoomSettings(topic="Gone")})
    record = Record(store=Store(runner), clock=FakeClock(), on_finished=lambda: None)
    return Send(sender=wechat, rooms=directory, pacer=Pacer(PacingSettings(enabled=False)), clock=FakeClock(),
                on_text_sent=record.text_sent)


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[OutboxRunner]:
    opened = await open_outbox(tmp_path)
    yield opened
    await opened.close()


async def one(runner: OutboxRunner, text: str = "Water leak", room: str = "ops",
              attachment: Attachment | None = None) -> Batch:
    await enqueue(runner, text, room=room, attachment=attachment)
    return Batch(tuple((await rows(runner))[-1:]))


@pytest.mark.parametrize(("error", "outcome"), [
    (None, Sent(OPS)),
    (SendInDoubt("the gateway did not answer within 30 s"), InDoubt(OPS, "the gateway did not answer within 30 s")),
    (EventRejected("the file is too big"), Rejected(OPS, "the file is too big")),
    (GatewayUnavailable("WeChat is not logged in (scan)"), Waiting("WeChat is not logged in (scan)")),
    (SendError("busy", transient=True), Refused(OPS, "busy", transient=True)),
    (SendError("invalid argument", transient=False), Refused(OPS, "invalid argument", transient=False)),
])
async def test_send_maps_each_error_to_one_outcome(runner: OutboxRunner, error: BaseException | None,
                                                   outcome: Outcome) -> None:
    wechat = FakeWeChat(failures=[error] if error is not None else [])
    assert await sender(wechat, runner)(await one(runner)) == outcome


async def test_send_rejects_an_unresolvable_room_without_asking_wechat(runner: OutboxRunner) -> None:
    wechat = FakeWeChat()
    outcome = await sender(wechat, runner)(await one(runner, room="gone"))
    assert outcome == Rejected(RoomRef("gone"), "room 'gone': the account is in no room named 'Gone'")
    assert wechat.tried == []


async def test_send_a_text_then_its_attachment_and_a_retry_sends_only_the_attachment(runner: OutboxRunner) -> None:
    wechat = FakeWeChat(failures=[None, SendError("upload failed", transient=True)])
    image = Attachment(kind="image", name="door.jpg", data=b"\xff\xd8\xffjpeg")
    await one(runner, "Someone at the door", attachment=image)
    send = sender(wechat, runner)
    assert await send(Batch(tuple(await rows(runner)))) == Refused(OPS, "upload failed", transient=True)
    assert await send(Batch(tuple(await rows(runner)))) == Sent(OPS)  # the row as the retry claims it
    assert wechat.sent == ["Someone at the door"]
    assert wechat.files == [("ops@chatroom", "door.jpg", image.data)]
    assert wechat.tried == ["Someone at the door", "door.jpg", "door.jpg"]


async def test_send_without_a_downloader_rejects_a_url_attachment(runner: OutboxRunner) -> None:
    wechat = FakeWeChat()
    batch = await one(runner, "Camera", attachment=Attachment(kind="image", name="cam.jpg", url="http://cam.local/snap.jpg"))
    assert await sender(wechat, runner)(batch) == Rejected(OPS, "this bridge cannot download attachments")
    assert wechat.tried == []  # the text is not sent without its image


# --------------------------------------------------------------------------- record


async def test_record_defers_a_single_delivery_and_commits_the_rest(runner: OutboxRunner) -> None:
    clock, finished = FakeClock(), []
    record = Record(store=Store(runner), clock=clock, on_finished=lambda: finished.append(1))
    await enqueue(runner, "a", "b", "c")
    a, b, c = (Batch((row,)) for row in await rows(runner))
    delivered = await record(a, Sent(OPS))
    assert delivered is not None and delivered.finish == Finish(seq=a.first.seq, status="delivered", now=T0, room=OPS)
    assert delivered.attempt == 1 and finished == []  # not on disk yet: not told
    assert await record(b, Refused(OPS, "invalid argument", transient=False)) is None
    assert await record(c, Rejected(RoomRef("ops"), "the file is too big")) is None
    assert [(r.status, r.error, r.attempts) for r in await rows(runner)] == [
        ("pending", None, 0), ("failed", "invalid argument (not retried)", 1), ("rejected", "the file is too big", 0)]
    assert finished == [1, 1]

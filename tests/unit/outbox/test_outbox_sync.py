"""What a power cut can cost: which outbox commits wait for the disk, and when the WAL is synced.

A process crash keeps every commit (the OS has the pages); only a power cut can undo the ones
not yet synced. Back-to-back sends commit their claim without waiting for the disk, so these
tests pin the bound: intake and every other commit FULL, at most `SYNC_EVERY_SENDS` claims
unsynced, a row that was in doubt before never sent on an unsynced claim, and a sync whenever
the worker finds nothing to send.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.events import Delivery, DeliveryPolicy, Queued, RoomRef
from bridge.outbox import store as outbox_module
from bridge.outbox.records import Arrival, Finish, IdempotencyKey, OutboxRow
from bridge.outbox.store import SYNC_EVERY_SENDS, Outbox

T0 = 1_700_000_000.0
POLICY = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0)
OPS = RoomRef("ops", "ops@chatroom", "Ops")


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox.open(tmp_path / "outbox.sqlite3", idempotency_window=3600.0, max_pending=1000)
    yield box
    box.close()


class Disk:
    """Records what SQLite is told before each COMMIT, and which files the outbox fsyncs itself."""

    def __init__(self, box: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
        self.levels: list[str] = []  # the synchronous level in force at each COMMIT
        self.synced: list[str] = []  # paths given to fdatasync by the outbox
        level = ["FULL"]

        def trace(statement: str) -> None:
            if statement.startswith("PRAGMA synchronous="):
                level[0] = statement.split("=", 1)[1]
            elif statement == "COMMIT":
                self.levels.append(level[0])

        box._db.set_trace_callback(trace)
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            self.synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(outbox_module.os, "fdatasync", fdatasync)

    def take(self) -> tuple[list[str], list[str]]:
        seen = (self.levels[:], self.synced[:])
        self.levels.clear()
        self.synced.clear()
        return seen


def arrivals(count: int, start: int = 0) -> list[Arrival]:
    return [Arrival(key=IdempotencyKey(f"id:e{i}", False), dup=False, needs_ack=True,
                    outcomes=(Queued(delivery=Delivery(event_id=f"e{i}", route="r", source_topic="t/x", room_key="ops",
                                                       text=f"text e{i}", created_at=T0), policy=POLICY),),
                    received_at=T0)
            for i in range(start, start + count)]


def delivered(row: OutboxRow) -> Finish:
    return Finish(seq=row.seq, status="delivered", now=T0 + 1, room=OPS)


def test_intake_and_the_first_claim_wait_for_the_disk_back_to_back_claims_do_not(
        outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(outbox, monkeypatch)
    outbox.accept(arrivals(3), now=T0)
    assert disk.take() == (["FULL"], [])
    first = outbox.claim(T0)  # after idling: FULL, the send starts with its claim on disk
    assert first is not None and disk.take() == (["FULL"], [])
    second = outbox.claim(T0, finish=delivered(first))
    assert second is not None and second.event_id == "e1"
    assert disk.take() == (["NORMAL"], [])
    assert outbox.unsynced == 1
    # The connection is left at FULL: nothing else commits without waiting for the disk.
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_the_wal_is_synced_once_sync_every_sends_claims_are_not_on_disk(
        outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox.accept(arrivals(3 * SYNC_EVERY_SENDS), now=T0)
    row = outbox.claim(T0)
    assert row is not None
    disk = Disk(outbox, monkeypatch)
    synced_after: list[int] = []
    for number in range(1, 2 * SYNC_EVERY_SENDS + 1):
        row = outbox.claim(T0, finish=delivered(row))
        assert row is not None
        assert outbox.unsynced < SYNC_EVERY_SENDS  # what a power cut during this send can undo
        if disk.take()[1]:
            synced_after.append(number)
    assert synced_after == [SYNC_EVERY_SENDS, 2 * SYNC_EVERY_SENDS]


def test_the_sync_is_of_the_wal_file(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox.accept(arrivals(SYNC_EVERY_SENDS + 1), now=T0)
    row = outbox.claim(T0)
    disk = Disk(outbox, monkeypatch)
    for _ in range(SYNC_EVERY_SENDS):
        assert row is not None
        row = outbox.claim(T0, finish=delivered(row))
    assert disk.take()[1] == [outbox._path + "-wal"]


def test_a_full_commit_in_between_makes_the_earlier_claims_durable(
        outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox.accept(arrivals(SYNC_EVERY_SENDS), now=T0)
    row = outbox.claim(T0)
    for _ in range(3):
        assert row is not None
        row = outbox.claim(T0, finish=delivered(row))
    assert outbox.unsynced == 3
    disk = Disk(outbox, monkeypatch)
    outbox.accept(arrivals(1, start=100), now=T0)  # a burst arrives: SQLite syncs the whole WAL
    assert disk.take() == (["FULL"], []) and outbox.unsynced == 0
    # A FULL commit that writes nothing makes SQLite sync nothing: the outbox syncs the WAL itself.
    assert row is not None
    outbox.claim(T0, finish=delivered(row))
    outbox.record_acks([999_999])  # no such event row: nothing changes
    assert disk.take() == (["NORMAL", "FULL"], [outbox._path + "-wal"]) and outbox.unsynced == 0


def test_a_row_in_doubt_before_is_sent_again_only_on_a_synced_claim(
        outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox.accept(arrivals(2), now=T0)
    doubted = outbox.claim(T0)
    assert doubted is not None
    outbox.mark_in_doubt([doubted.seq], now=T0, retry_at=T0 + 5, error="the gateway did not answer within 30 s")
    other = outbox.claim(T0)
    assert other is not None and other.event_id == "e1"
    disk = Disk(outbox, monkeypatch)
    again = outbox.claim(T0 + 5, finish=delivered(other))
    # A power cut must not undo this claim: the row would then be sent a third time.
    assert again is not None and (again.event_id, again.doubts) == ("e0", 1)
    assert disk.take() == (["NORMAL"], [outbox._path + "-wal"]) and outbox.unsynced == 0


def test_the_worker_going_idle_syncs(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox.accept(arrivals(2), now=T0)
    first = outbox.claim(T0)
    assert first is not None
    second = outbox.claim(T0, finish=delivered(first))
    assert second is not None
    disk = Disk(outbox, monkeypatch)
    # Nothing left to claim: the outcome goes with an empty claim, and the WAL is synced at once.
    assert outbox.claim(T0, finish=delivered(second)) is None
    assert disk.take() == (["NORMAL"], [outbox._path + "-wal"]) and outbox.unsynced == 0
    # An outcome committed on its own (nothing claimed after it, e.g. paced) is FULL.
    outbox.accept(arrivals(1, start=10), now=T0)
    row = outbox.claim(T0)
    assert row is not None
    disk.take()
    outbox.finish(delivered(row))
    assert disk.take() == (["FULL"], [])


def test_every_other_state_change_waits_for_the_disk(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox.accept(arrivals(3), now=T0)
    disk = Disk(outbox, monkeypatch)
    a, b = outbox.claim(T0), None
    assert a is not None
    outbox.mark_retry(a.seq, error="busy", retry_at=T0)
    b = outbox.claim(T0)
    assert b is not None
    outbox.mark_finished(b.seq, "failed", now=T0, room=OPS, error="no", attempted=True)
    c = outbox.claim(T0)
    assert c is not None
    outbox.mark_in_doubt([c.seq], now=T0, retry_at=T0, error="cut off")
    outbox.recover(T0)
    levels, _ = disk.take()
    assert levels and set(levels) == {"FULL"}

"""The intake in-process: a temporary outbox, a runtime from a real config, acknowledgements recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.config.models import ENV_TOKEN
from bridge.events import InboundMessage
from bridge.inbound.intake import Intake, idempotency_key
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.pipeline.runtime import LiveRuntime, Runtime

T0 = 1_700_000_000.0
CONFIG = """\
rooms:
  ops: {id: "ops@chatroom"}
routes:
  - {name: door, topic: "home/door", rooms: [ops], template: "Door {{ payload.state }}"}
"""


def test_idempotency_key_uses_the_producer_id_with_the_topic_else_the_content() -> None:
    assert idempotency_key("a", b'{"id": "x", "v": 1}', "x") == idempotency_key("a", b'{"id": "x", "v": 2}', "x")
    assert idempotency_key("a", b"", "x") != idempotency_key("b", b"", "x")
    assert not idempotency_key("a", b"", "x").by_content
    content = idempotency_key("a", b"ON", None)
    assert content.by_content and content == idempotency_key("a", b"ON", None) != idempotency_key("a", b"OFF", None)


@dataclass
class Harness:
    intake: Intake
    store: OutboxRunner
    path: Path
    #: What the intake did, in order: ("ack", topic, rows stored at that moment) and ("stored",).
    happened: list[tuple[object, ...]] = field(default_factory=list)
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    def message(self, payload: object, *, topic: str = "home/door", dup: bool = False) -> InboundMessage:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return InboundMessage(topic=topic, payload=data, retain=False, received_at=T0, qos=1, dup=dup)

    def ack_for(self, message: InboundMessage) -> Callable[[], bool]:
        def ack() -> bool:
            # Read with a connection of our own: what another process would find on disk right now.
            with contextlib.closing(sqlite3.connect(self.path)) as db:
                rows = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
            self.happened.append(("ack", message.payload, rows))
            self.acked.set()
            return True
        return ack

    async def submit(self, *messages: InboundMessage) -> None:
        for message in messages:
            await self.intake.submit(message, self.ack_for(message))

    async def settle(self, acks: int) -> None:
        async with asyncio.timeout(5):
            while sum(1 for h in self.happened if h[0] == "ack") < acks:
                await self.acked.wait()
                self.acked.clear()

    async def rows(self) -> list[tuple[str, str, str | None]]:
        found = await self.store.run(Outbox.unreported)
        pending = []
        while (row := await self.store.run(Outbox.claim, T0 + 1)) is not None:
            pending.append(row)
            await self.store.run(Outbox.mark_retry, row.seq, error="held", retry_at=T0 + 10_000)
        return sorted((r.event_id, r.status, r.error) for r in [*found, *pending])


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    (tmp_path / "config.yaml").write_text(CONFIG)
    live = LiveRuntime(Runtime.compile(load_config(tmp_path / "config.yaml", {ENV_TOKEN: "t"})))
    path = tmp_path / "outbox.sqlite3"
    store = OutboxRunner(path, idempotency_window=3600.0, max_pending=100)
    await store.open()
    box: Harness
    intake = Intake(live=live, store=store, on_stored=lambda: box.happened.append(("stored",)), clock=lambda: T0)
    box = Harness(intake, store, path)
    task = asyncio.create_task(intake.run(), name="intake-under-test")
    try:
        yield box
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.close()


async def commits(store: OutboxRunner) -> int:
    return await store.run(lambda box: box.commits)


async def test_a_burst_is_one_commit_then_acknowledged_in_arrival_order(harness: Harness) -> None:
    before = await commits(harness.store)
    messages = [harness.message({"state": s, "id": s}) for s in ("open", "closed", "ajar")]
    await harness.submit(*messages)
    await harness.settle(acks=3)
    # Every PUBACK went out after the one commit that stored all three, in the order they came.
    assert harness.happened == [*(("ack", m.payload, 3) for m in messages), ("stored",)]
    assert await commits(harness.store) == before + 1
    assert await harness.rows() == [("ajar", "pending", None), ("closed", "pending", None), ("open", "pending", None)]


async def test_a_duplicate_is_acknowledged_and_not_stored_again(harness: Harness) -> None:
    first, again = harness.message({"state": "open", "id": "e1"}), harness.message({"state": "shut", "id": "e1"})
    await harness.submit(first)
    await harness.settle(acks=1)
    await harness.submit(again)
    await harness.settle(acks=2)
    assert [h for h in harness.happened if h[0] == "ack"] == [("ack", first.payload, 1), ("ack", again.payload, 1)]
    assert await harness.rows() == [("e1", "pending", None)]


async def test_a_payload_the_route_cannot_render_is_stored_rejected_and_acknowledged(harness: Harness) -> None:
    await harness.submit(harness.message({"id": "bad", "other": 1}), harness.message(b"\xff", topic="home/door"))
    await harness.settle(acks=2)
    rows = await harness.rows()
    assert [(event_id, status) for event_id, status, _ in rows if event_id == "bad"] == [("bad", "rejected")]
    assert sorted(error for _, _, error in rows) == [
        "route 'door': the template uses a value the payload does not have: 'dict object' has no attribute 'state'",
        "the payload is not UTF-8 text (invalid byte at position 0)"]
    assert ("stored",) in harness.happened  # the reporter is nudged: rejections are reported at once


async def test_close_stores_and_acknowledges_what_was_taken_and_nothing_after(harness: Harness) -> None:
    taken = [harness.message({"state": "open", "id": f"t{n}"}) for n in range(3)]
    await harness.submit(*taken)
    await harness.intake.close()
    assert [h for h in harness.happened if h[0] == "ack"] == [("ack", m.payload, 3) for m in taken]
    late = harness.message({"state": "open", "id": "late"})
    await harness.submit(late)
    assert [h for h in harness.happened if h[0] == "ack"] == [("ack", m.payload, 3) for m in taken]
    assert [event_id for event_id, _, _ in await harness.rows()] == ["t0", "t1", "t2"]
    # Their acknowledgements are recorded too: a broker redelivery of one is a new message now.
    with contextlib.closing(sqlite3.connect(harness.path)) as db:
        assert db.execute("SELECT COUNT(*) FROM events WHERE awaiting_ack = 1").fetchone()[0] == 0


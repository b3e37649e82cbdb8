"""Seams for in-process tests of the delivery worker and the reporter: a clock that moves only when
told (or slept on), a WeChat that records what reached it and raises what it is told to, and a
real outbox on a temporary file."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from bridge.chat import Capabilities, LoginState, WeChatContact, WeChatUser
from bridge.events import Attachment, Delivery, DeliveryPolicy, Queued, Rejected
from bridge.outbox.records import Arrival, IdempotencyKey, OutboxRow
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox

P = ParamSpec("P")
T = TypeVar("T")

#: Wall time at the start of every test (2023-11-14), far from the monotonic clock's start.
T0 = 1_700_000_000.0
POLICY = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0)


class FakeClock:
    """Wall and monotonic time, moved together by `advance`, `sleep` and a `wait` that times out."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono = 500.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None:
        if event.is_set():
            return
        if seconds is None:
            await event.wait()
            return
        self.advance(seconds)
        await asyncio.sleep(0)


@dataclass
class FakeWeChat:
    """What reached "WeChat": `texts` (room id, text, mentioned ids) and `files` (room id, name, bytes).

    `failures` are raised by the next sends, in order (None: that send works; every send is counted
    in `tried`, as one that ends in doubt may have arrived). `block_on` holds a send of that exact
    text until the test cancels it; `on_text` runs after each text that arrived.
    """

    failures: list[BaseException | None] = field(default_factory=list)
    members: dict[str, list[WeChatContact]] = field(default_factory=dict)
    texts: list[tuple[str, str, list[str]]] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)
    block_on: str | None = None
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    on_text: Callable[[str], None] | None = None
    #: What the fake transport carries (everything, unless a test says otherwise).
    can: Capabilities = field(default_factory=lambda: Capabilities("the fake transport"))

    @property
    def state(self) -> LoginState:
        return LoginState("logged_in", user=WeChatUser("wxid_bot", "Bot"))

    def capabilities(self, room_id: str) -> Capabilities:
        return self.can

    @property
    def sent(self) -> list[str]:
        """The texts as the room shows them."""
        return [text for _, text, _ in self.texts]

    def _fail(self, what: str) -> None:
        self.tried.append(what)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure

    async def send_text(self, room_id: str, text: str, mentions: Sequence[WeChatContact] = ()) -> str:
        if text == self.block_on:
            self.blocked.set()
            await asyncio.Event().wait()  # until cancelled: the gateway never answers
        self._fail(text)
        self.texts.append((room_id, text, [m.id for m in mentions]))
        if self.on_text is not None:
            self.on_text(text)
        return f"msg-{len(self.texts)}"

    async def send_file(self, room_id: str, name: str, data: bytes) -> str:
        self._fail(name)
        self.files.append((room_id, name, data))
        return f"file-{len(self.files)}"

    async def room_members(self, room_id: str) -> list[WeChatContact]:
        return self.members.get(room_id, [])


class GatedRunner:
    """An `OutboxRunner` whose next call, once `hold_next` is set, waits until it is cancelled:
    the outbox thread busy with another call when the worker is stopped."""

    def __init__(self, runner: OutboxRunner) -> None:
        self.runner = runner
        self.hold_next = False
        self.held = asyncio.Event()

    async def run(self, method: Callable[Concatenate[Outbox, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.hold_next:
            self.hold_next = False
            self.held.set()
            await asyncio.Event().wait()
        return await self.runner.run(method, *args, **kwargs)


_ids = itertools.count(1)


async def open_outbox(tmp_path: Path) -> OutboxRunner:
    runner = OutboxRunner(tmp_path / "outbox.sqlite3", idempotency_window=3600.0, max_pending=1000)
    await runner.open()
    return runner


async def enqueue(runner: OutboxRunner, *texts: str, room: str = "ops", now: float = T0,
                  policy: DeliveryPolicy = POLICY, mentions: tuple[str, ...] = (),
                  attachment: Attachment | None = None) -> list[str]:
    """Store one pending delivery per text (one event each) as the intake would; returns the event ids."""
    ids = [f"ev-{next(_ids)}" for _ in texts]
    arrivals = [Arrival(key=IdempotencyKey(event_id, by_content=False), dup=False, needs_ack=False, received_at=now,
                        outcomes=(Queued(delivery=Delivery(event_id=event_id, route="alerts", source_topic="home/alert",
                                                           room_key=room, text=text, created_at=now, mentions=mentions,
                                                           attachment=attachment), policy=policy),))
                for event_id, text in zip(ids, texts, strict=True)]
    await runner.run(Outbox.accept, arrivals, now=now)
    return ids


async def store_reports(runner: OutboxRunner, *reports: Rejected, now: float = T0) -> None:
    """Store finished rows (rejections at intake), each of its own event."""
    await runner.run(Outbox.accept, [Arrival(key=IdempotencyKey(r.event_id, by_content=False), dup=False,
                                             needs_ack=False, received_at=now, outcomes=(r,)) for r in reports],
                     now=now)


def _all_rows(box: Outbox) -> list[OutboxRow]:
    return box._rows("ORDER BY seq")


async def rows(runner: OutboxRunner) -> list[OutboxRow]:
    """Every delivery row as stored now, in seq order."""
    return await runner.run(_all_rows)


def statuses(found: list[OutboxRow]) -> list[tuple[str, str, str | None]]:
    return [(row.event_id, row.status, row.error) for row in found]

"""One person's long poll against the fake iLink server: messages in, the cursor on disk, -14 paused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.wechat.ilink.api import IlinkClient, new_session
from bridge.wechat.ilink.credentials import CredentialStore
from bridge.wechat.ilink.models import InboundMessage
from bridge.wechat.ilink.poller import Poller, PollTuning
from bridge.wechat.ilink.window import Gate, Window, WindowPolicy
from tests.support.fake_ilink import Bot, FakeIlink


class Events:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.expired: list[float] = []
        self.restored = 0
        self.fail_on: str | None = None

    async def message(self, message: InboundMessage) -> None:
        if message.text == self.fail_on:
            raise RuntimeError("the bridge died while handing this message on")
        self.messages.append(message)

    async def session_expired(self, until: float) -> None:
        self.expired.append(until)

    async def session_restored(self) -> None:
        self.restored += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def poller(client: IlinkClient, store: CredentialStore, events: Events, clock: Clock, window: Window) -> Poller:
    return Poller(client=client, store=store, name="alice", window=window, events=events, clock=clock,
                  sleep=clock.sleep, tuning=PollTuning(retry_seconds=2, backoff_seconds=30, failures_before_backoff=3))


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path)


async def test_messages_renew_the_window_and_a_restart_neither_replays_nor_loses_them(
        fake: FakeIlink, client: IlinkClient, alice: Bot, store: CredentialStore) -> None:
    events, clock = Events(), Clock()
    window = Window(policy=WindowPolicy())
    first = fake.push(alice.user_id, "one")
    await poller(client, store, events, clock, window).poll_once()
    assert [m.text for m in events.messages] == ["one"]
    left = window.remaining(clock.now)
    assert (left.gate, left.context_token, left.budget) == (Gate.OPEN, first, 10)
    saved = store.load_cursor("alice")
    assert (saved.context_token, saved.spent) == (first, 0) and saved.get_updates_buf

    # a new bridge process: state comes from disk only
    second = fake.push(alice.user_id, "two")
    events2 = Events()
    restored = store.load_cursor("alice")
    window2 = Window(policy=WindowPolicy(), context_token=restored.context_token,
                     last_inbound_at=restored.last_inbound_at, spent=restored.spent)
    await poller(client, store, events2, clock, window2).poll_once()
    assert [m.text for m in events2.messages] == ["two"]
    assert store.load_cursor("alice").context_token == second


async def test_a_crash_while_handing_a_message_on_hands_it_out_again(
        fake: FakeIlink, client: IlinkClient, alice: Bot, store: CredentialStore) -> None:
    events, clock = Events(), Clock()
    fake.push(alice.user_id, "kept")
    events.fail_on = "kept"
    with pytest.raises(RuntimeError):
        await poller(client, store, events, clock, Window(policy=WindowPolicy())).poll_once()
    assert store.load_cursor("alice").get_updates_buf == ""  # the cursor did not move
    events.fail_on = None
    await poller(client, store, events, clock, Window(policy=WindowPolicy())).poll_once()
    assert [m.text for m in events.messages] == ["kept"]


async def test_the_next_poll_lasts_what_the_server_said(
        fake: FakeIlink, client: IlinkClient, alice: Bot, store: CredentialStore) -> None:
    fake.poll_timeout_ms, fake.poll_hold = 300, 30.0  # the server would hold longer than it told us
    events, clock = Events(), Clock()
    fake.push(alice.user_id, "hi")
    p = poller(client, store, events, clock, Window(policy=WindowPolicy()))
    await p.poll_once()
    cursor = store.load_cursor("alice").get_updates_buf
    started = time.monotonic()
    await p.poll_once()  # nothing comes: our side ends the poll after 0.3 s, not 35 s
    assert 0.3 <= time.monotonic() - started < 5
    assert store.load_cursor("alice").get_updates_buf == cursor and [m.text for m in events.messages] == ["hi"]


async def test_an_expired_session_pauses_the_poll_then_tries_once_more(
        fake: FakeIlink, client: IlinkClient, alice: Bot, store: CredentialStore) -> None:
    events, clock = Events(), Clock()
    window = Window(policy=WindowPolicy(stale_pause_seconds=3600))
    p = poller(client, store, events, clock, window)
    fake.expire_session(alice.user_id)
    await p.poll_once()
    assert events.expired == [clock.now + 3600]
    calls = len(fake.requests)
    await p.poll_once()  # paused: sleeps the hour out, calls nobody
    assert clock.slept == [3600] and len(fake.requests) == calls
    fake.restore_session(alice.user_id)  # the server takes the token again
    fake.push(alice.user_id, "back")
    await p.poll_once()
    assert events.restored == 1 and [m.text for m in events.messages] == ["back"]


async def test_failures_are_retried_after_2_s_and_backed_off_30_s_after_three(
        store: CredentialStore) -> None:
    events, clock = Events(), Clock()
    async with new_session() as session:
        client = IlinkClient(session=session, base_url="http://127.0.0.1:9", token="t", bot_agent="x/1")
        p = poller(client, store, events, clock, Window(policy=WindowPolicy()))
        for _ in range(4):
            await p.poll_once()
    assert clock.slept == [2, 2, 30, 2]


async def test_a_cut_poll_waits_2_s_and_loses_nothing(
        fake: FakeIlink, client: IlinkClient, alice: Bot, store: CredentialStore) -> None:
    events, clock = Events(), Clock()
    p = poller(client, store, events, clock, Window(policy=WindowPolicy()))
    fake.push(alice.user_id, "survives")
    fake.cut_polls(1)
    await p.poll_once()
    assert (clock.slept, events.messages) == ([2], [])
    await p.poll_once()
    assert [m.text for m in events.messages] == ["survives"]

"""The window kept in step with the server: sends spend it, a refusal closes it early, a reply renews it.

This is the cycle the delivery side runs per person; here it runs on the fake iLink server whose
budget (3) is smaller than our estimate (10), so the server's word has to win.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import SendError
from bridge.wechat.ilink.api import IlinkClient
from bridge.wechat.ilink.credentials import CredentialStore
from bridge.wechat.ilink.errors import RateLimited, WindowClosed
from bridge.wechat.ilink.models import InboundMessage
from bridge.wechat.ilink.poller import Poller
from bridge.wechat.ilink.text import split_text
from bridge.wechat.ilink.window import Gate, Window, WindowPolicy
from tests.support.fake_ilink import Bot, FakeIlink


class Inbox:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def message(self, message: InboundMessage) -> None:
        self.messages.append(message)

    async def session_expired(self, until: float) -> None:
        raise AssertionError("not expected here")

    async def session_restored(self) -> None:
        raise AssertionError("not expected here")


async def send(client: IlinkClient, window: Window, store: CredentialStore, to: str, text: str, now: float) -> None:
    """Send one text, part by part, each part spending budget; a refusal teaches the window."""
    for part in split_text(text):
        try:
            await client.send_text(to_user_id=to, text=part, context_token=window.context_token)
        except SendError as exc:
            window.learn(exc, now)
            raise
        window.spend(1)
        store.update_cursor("alice", spent=window.spent)


async def test_the_server_refusing_before_our_estimate_closes_the_window_until_the_reply(
        fake: FakeIlink, client: IlinkClient, alice: Bot, tmp_path: Path) -> None:
    fake.budget = 3
    store = CredentialStore(tmp_path)
    window = Window(policy=WindowPolicy(per_message=10))
    poller = Poller(client=client, store=store, name="alice", window=window, events=Inbox(), clock=lambda: 100.0)
    fake.push(alice.user_id, "hi bot")
    await poller.poll_once()
    assert window.remaining(100.0).budget == 10  # our estimate

    for n in range(3):
        await send(client, window, store, alice.user_id, f"alarm {n}", now=101.0)
    assert (window.remaining(101.0).budget, store.load_cursor("alice").spent) == (7, 3)
    with pytest.raises(WindowClosed):
        await send(client, window, store, alice.user_id, "alarm 3", now=102.0)
    assert window.remaining(102.0).gate is Gate.REFUSED  # the server wins over "7 left"
    assert fake.texts(alice.user_id) == ["alarm 0", "alarm 1", "alarm 2"]

    fake.push(alice.user_id, "ok, got them")
    await poller.poll_once()
    left = window.remaining(103.0)
    assert (left.gate, left.budget) == (Gate.OPEN, 10)
    assert store.load_cursor("alice").spent == 0
    fake.rate_limit(1)
    with pytest.raises(RateLimited):
        await send(client, window, store, alice.user_id, "alarm 3", now=104.0)
    assert window.remaining(104.0).gate is Gate.RATE_LIMITED
    await send(client, window, store, alice.user_id, "alarm 3", now=104.0 + 30)
    assert fake.texts(alice.user_id)[-1] == "alarm 3"
    assert window.remaining(134.0).gate is Gate.OPEN  # the accepted send ended the back-off

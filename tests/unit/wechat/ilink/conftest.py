"""A fake iLink server per test (tests/support/fake_ilink.py), and our client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from bridge.wechat.ilink.api import BOT_AGENT, IlinkClient, Session, new_session
from tests.support.fake_ilink import Bot, FakeIlink
from tests.support.waiting import wait_for_async

__all__ = ["BOT_AGENT", "until"]


@pytest.fixture
def fake() -> Iterator[FakeIlink]:
    with FakeIlink() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[Session]:
    async with new_session() as s:
        yield s


@pytest.fixture
def alice(fake: FakeIlink) -> Bot:
    return fake.add_bot("alice@im.wechat")


@pytest.fixture
def client(fake: FakeIlink, session: Session, alice: Bot) -> IlinkClient:
    return IlinkClient(session=session, base_url=fake.base_url, token=alice.token, bot_agent=BOT_AGENT)


async def until(check: Callable[[], object], *, what: str, seconds: float = 5.0) -> None:
    """Wait on the fake's state from inside the test's event loop (the fake runs in its own thread)."""
    await wait_for_async(check, timeout=seconds, what=what)

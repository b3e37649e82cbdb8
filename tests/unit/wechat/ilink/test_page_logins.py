"""QR logins the bridge runs for the status page (`OfficialBots.start_login`), against the fake iLink server:
a person not bound yet is bound and their bot starts; a bound person's login that fails leaves the
session they had; the number the phone shows goes to the login that asks for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.config.models import IlinkSettings
from bridge.i18n import ENGLISH
from bridge.wechat.ilink.credentials import Credentials
from bridge.wechat.official import OfficialBots
from tests.support.fake_ilink import FakeIlink
from tests.unit.wechat.ilink.conftest import until


@pytest.fixture
async def bots(fake: FakeIlink, tmp_path: Path) -> AsyncIterator[OfficialBots]:
    found = OfficialBots(settings=IlinkSettings(base_url=fake.base_url), directory=tmp_path / "ilink",
                         people=lambda: ["alice", "bob"], texts=lambda: ENGLISH)

    async def ignore(name: str, message: object) -> None:
        pass

    task = asyncio.create_task(found.run(on_change=lambda: None, on_message=ignore))
    await found.started.wait()
    yield found
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def state(bots: OfficialBots, name: str) -> tuple[str, str | None]:
    [found] = [s for s in bots.states(0.0, {}) if s.name == name]
    return found.state, found.reason


async def test_a_person_not_bound_is_bound_and_their_bot_starts(fake: FakeIlink, bots: OfficialBots) -> None:
    assert state(bots, "alice")[0] == "logged_out"
    bots.start_login("alice")
    await until(lambda: fake.logins and state(bots, "alice")[0] == "scan" and
                bots.states(0.0, {})[0].qr == fake.login.url, what="the QR code in alice's state")
    bots.start_login("alice")  # a second click while it runs starts nothing new
    await asyncio.sleep(0.2)
    assert len(fake.logins) == 1
    fake.scan("alice@im.wechat", verify_code="55")
    await until(lambda: bots.states(0.0, {})[0].asks_code, what="the login asking for the number")
    assert not bots.give_verify_code("bob", "55")  # bob has no login asking
    assert bots.give_verify_code("alice", "55")
    await until(lambda: state(bots, "alice")[1] == "scanned: confirm the login on the phone", what="scanned")
    fake.confirm()
    await until(lambda: bots.bot("alice") is not None, what="alice's bot")
    assert bots.store.load("alice") is not None and "alice" not in bots.first_logins
    assert state(bots, "alice")[0] == "logged_in"


async def test_a_name_no_room_uses_is_shown_while_its_login_runs(fake: FakeIlink, bots: OfficialBots) -> None:
    bots.start_login("carol")
    await until(lambda: fake.logins and state(bots, "carol")[0] == "scan", what="carol's QR code")
    with pytest.raises(ValueError, match="cannot name a person"):
        bots.start_login("Not A Name")


async def test_a_failed_login_for_a_bound_person_keeps_their_session(
        fake: FakeIlink, bots: OfficialBots) -> None:
    bot = fake.add_bot("bob@im.wechat")
    bots.store.save(Credentials(name="bob", token=bot.token, base_url=fake.base_url, bot_id=bot.bot_id,
                                user_id="bob@im.wechat", bound_at=1.0))
    bots.sync()
    assert state(bots, "bob")[0] == "logged_in"
    bots.start_login("bob")
    for code in range(3):  # the code expires three times: the login gives up
        await until(lambda n=code: len(fake.logins) == n + 1, what=f"QR code {code + 1}")
        fake.expire_qr()
    await until(lambda: (b := bots.bot("bob")) is not None and b.login is None, what="the login ending")
    assert state(bots, "bob")[0] == "logged_in"
    assert bots.store.load("bob") is not None and bots.store.load("bob").token == bot.token  # type: ignore[union-attr]

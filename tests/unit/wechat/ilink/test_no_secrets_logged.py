"""No token, bot token or context_token reaches a log line, whatever the level."""

from __future__ import annotations

import logging

import pytest

from bridge.wechat.ilink.api import IlinkClient, Session
from bridge.wechat.ilink.login import Bound, qr_login
from bridge.wechat.ilink.models import QrCode
from tests.support.fake_ilink import FakeIlink
from tests.unit.wechat.ilink.conftest import BOT_AGENT


class Ui:
    def __init__(self, fake: FakeIlink) -> None:
        self.fake = fake

    async def show_qr(self, qr: QrCode, *, attempt: int, attempts: int) -> None:
        self.fake.scan("alice@im.wechat")

    async def scanned(self) -> None:
        self.fake.confirm()

    async def ask_verify_code(self, *, retry: bool) -> str:
        raise AssertionError("not asked")


async def test_login_poll_and_send_log_no_secret(fake: FakeIlink, session: Session,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    login = IlinkClient(session=session, base_url=fake.base_url, bot_agent=BOT_AGENT)
    bound = await qr_login(login, Ui(fake), poll_pause=0.0)
    assert isinstance(bound, Bound)
    client = IlinkClient(session=session, base_url=fake.base_url, token=bound.token, bot_agent=BOT_AGENT)
    ctx = fake.push("alice@im.wechat", "hi")
    await client.get_updates("")
    await client.send_text(to_user_id="alice@im.wechat", text="hello", context_token=ctx)
    assert caplog.records, "the client logs its requests at debug level"
    for secret in (bound.token, ctx, fake.login.qrcode):
        assert secret not in caplog.text
    assert bound.token not in repr(client) and bound.token not in repr(bound)

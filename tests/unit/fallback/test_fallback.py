"""The fallback's rules (`bridge.fallback`) and its extension (`bridge.fallback_service`) in process:
a fake clock, a fake notifier, a real outbox on a temporary database."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
import qrcode

from bridge.chat import LoginState, WeChatUser
from bridge.config.models import Config, FallbackSettings
from bridge.config.routes import RetrySettings
from bridge.events import DeliveryPolicy
from bridge.fallback.rules import (
    OutageChange,
    OutageWatch,
    alert,
    delivery_message,
    qr_png,
    redacted,
    retry_at,
    scheme,
    secret_parts,
)
from bridge.fallback.service import FallbackService
from bridge.i18n import texts_for
from bridge.outbox.fallback_records import FallbackSend, Notified, OutageRecord
from bridge.outbox.store import Outbox
from bridge.pipeline.runtime import LiveRuntime, Runtime
from tests.unit.fakes import T0, FakeClock, enqueue, open_outbox

OUT = LoginState("logged_out", reason="logout by the phone")
SCAN = LoginState("scan", qrcode="qr-data-1")
IN = LoginState("logged_in", user=WeChatUser("bot", "Bridge Bot"))


def watch(record: OutageRecord | None = None) -> OutageWatch:
    return OutageWatch(logout_after=10, remind_every=60, record=record)


def test_one_alert_per_outage_a_reminder_then_back() -> None:
    w = watch()
    assert w.login(IN, T0) is None
    assert w.login(OUT, T0) == OutageChange(OutageRecord(T0))
    assert w.login(SCAN, T0 + 3) is None and w.login(LoginState("connecting"), T0 + 4) is None  # reconnects
    assert w.due(T0 + 9.9) is None and w.next_due() == T0 + 10
    logout = w.due(T0 + 10)
    assert logout is not None and logout.alert == "logout" and logout.record == OutageRecord(T0, T0 + 10)
    assert w.due(T0 + 69) is None and w.next_due() == T0 + 70
    reminder = w.due(T0 + 70)
    assert reminder is not None and reminder.alert == "reminder" and w.next_due() == T0 + 130
    back = w.login(IN, T0 + 80)
    assert back == OutageChange(None, "back", OutageRecord(T0, T0 + 10, T0 + 70))
    assert w.due(T0 + 500) is None and w.next_due() is None


def test_a_short_outage_says_nothing() -> None:
    w = watch()
    w.login(OUT, T0)
    assert w.login(IN, T0 + 5) == OutageChange(None)


def test_an_outage_stored_before_a_restart_is_not_alerted_again() -> None:
    w = watch(OutageRecord(T0, alerted_at=T0 + 10))
    assert w.login(OUT, T0 + 30) is None and w.due(T0 + 30) is None
    assert w.login(IN, T0 + 40) == OutageChange(None, "back", OutageRecord(T0, T0 + 10))


def test_the_alert_says_since_when_how_many_wait_and_attaches_the_qr() -> None:
    raised = alert("logout", record=OutageRecord(T0), state=SCAN, waiting=3, now=T0 + 300)
    assert raised.title == "WeChat is logged out" and raised.attachment == qr_png("qr-data-1")
    assert "(5 min)" in raised.body and "3 messages are waiting" in raised.body
    assert raised.body.endswith("or open https://wechaty.js.org/qrcode/qr-data-1")
    plain = alert("reminder", record=OutageRecord(T0), state=OUT, waiting=0, now=T0 + 3600)
    assert plain.attachment is None and "logout by the phone" in plain.body and "status page" in plain.body
    back = alert("back", record=OutageRecord(T0, T0 + 10), state=IN, waiting=2, now=T0 + 3720,
                 texts=texts_for("zh-CN"))
    assert back.title == "微信已恢复" and "Bridge Bot" in back.body and "1小时2分钟" in back.body


def test_a_delivery_through_the_fallback_is_titled_by_why() -> None:
    send = FallbackSend(id=1, kind="priority", seq=7, event_id="e1", route="smoke", room_key="ops", title=None,
                        body="🔥 smoke", attachment=None, status="pending", tries=0, doubts=0, created_at=T0,
                        next_attempt_at=T0, sending_since=None, finished_at=None, via=None, error=None)
    assert delivery_message(send, "Ops") == ("Not delivered in WeChat yet (Ops)", "🔥 smoke")
    empty = FallbackSend(id=2, kind="failed", seq=8, event_id="e2", route="cam", room_key="family", title=None,
                         body="", attachment=None, status="pending", tries=0, doubts=0, created_at=T0,
                        next_attempt_at=T0, sending_since=None, finished_at=None, via=None, error=None)
    assert delivery_message(empty, "家", texts_for("zh-CN")) == (
        "未能送达微信群「家」", "（图片或文件，请在微信中查看）")


def test_three_tries_then_failed_and_never_a_third_doubt() -> None:
    retry = RetrySettings(attempts=3, backoff=20, max_backoff=60)
    send = FallbackSend(id=1, kind="always", seq=1, event_id="e", route="r", room_key="ops", title=None, body="x",
                        attachment=None, status="pending", tries=0, doubts=0, created_at=T0,
                        next_attempt_at=T0, sending_since=None, finished_at=None, via=None, error=None)
    assert retry_at(send, in_doubt=False, retry=retry, now=T0) == T0 + 20
    assert retry_at(replace(send, tries=1), in_doubt=False, retry=retry, now=T0) == T0 + 40
    assert retry_at(replace(send, tries=2), in_doubt=False, retry=retry, now=T0) is None
    assert retry_at(replace(send, doubts=1), in_doubt=True, retry=retry, now=T0) is None


@pytest.mark.parametrize(("url", "secrets"), [
    ("ntfy://user:pw@ntfy.example.com/home-alerts-x93k", {"pw", "home-alerts-x93k"}),
    ("wecombot://693a91f6-7a0c-4bc4-97a0-0ec2f1fa5aaa/", {"693a91f6-7a0c-4bc4-97a0-0ec2f1fa5aaa"}),
    ("mailto://me:S3cr%21t@example.com", {"S3cr%21t", "S3cr!t"}),
    ("json://127.0.0.1:8080/hook?+X-Token=abcdef123456", {"abcdef123456"}),
])
def test_urls_are_shown_by_scheme_and_their_secrets_blanked(url: str, secrets: set[str]) -> None:
    parts = secret_parts(url)
    assert secrets <= set(parts) and url in parts
    assert "example.com" not in parts and "127.0.0.1" not in parts  # host names are no secret
    assert redacted(url, 2) == f"fallback.urls[2] ({scheme(url)}://…)"


def test_the_qr_png_is_the_code_itself() -> None:
    png = qr_png("hello")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data("hello")
    code.make(fit=True)
    matrix = code.get_matrix()
    assert (width, height, depth, colour) == (len(matrix) * 8, len(matrix) * 8, 8, 0)
    idat = png[33 + 8:-12 - 4]  # IHDR chunk is 25 bytes after the signature; IEND is 12
    pixels = zlib.decompress(idat)
    stride = width + 1
    for y, row in enumerate(matrix):
        line = pixels[y * 8 * stride + 1:(y * 8 * stride) + stride]
        assert [line[x * 8] == 0 for x in range(len(row))] == row


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes | None]] = []
        self.answer = Notified(("json",), (), False)

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("json",)

    async def prepare(self) -> None:
        pass

    async def send(self, title: str, body: str, *, picture: bytes | None = None) -> Notified:
        self.sent.append((title, body, picture))
        return self.answer


def service(runner: object, notifier: FakeNotifier, clock: FakeClock, nudged: list[int]) -> FallbackService:
    config = Config.model_validate({"rooms": {"ops": {"topic": "Ops"}}, "fallback": {
        "urls": ["json://127.0.0.1:1/x"], "logout_after": "10s", "priority_after": "30s"}})
    return FallbackService(config.fallback, store=runner, live=LiveRuntime(Runtime.compile(config)),  # type: ignore[arg-type]
                           notifier=notifier, on_finished=lambda: nudged.append(1), clock=clock)


async def test_the_service_alerts_escalates_and_says_back(tmp_path: Path) -> None:
    runner = await open_outbox(tmp_path)
    clock, notifier, nudged = FakeClock(), FakeNotifier(), []
    fallback = service(runner, notifier, clock, nudged)
    try:
        await fallback.start()
        await fallback.on_login(OUT)
        [event_id] = await enqueue(runner, "🔥 smoke", policy=DeliveryPolicy(attempts=1, backoff=1, max_backoff=1,
                                                                            priority=1))
        assert await fallback.step(notifier) is False
        clock.advance(10)
        assert await fallback.step(notifier) is True
        assert notifier.sent[-1][0] == "WeChat is logged out" and "1 messages are waiting" in notifier.sent[-1][1]
        clock.advance(20)
        assert await fallback.step(notifier) is True
        assert notifier.sent[-1][:2] == ("Not delivered in WeChat yet (Ops)", "🔥 smoke") and nudged == [1]
        assert await fallback.step(notifier) is False
        await fallback.on_login(IN)
        assert await fallback.step(notifier) is True
        assert notifier.sent[-1][0] == "WeChat is back" and "1 waiting messages go out now" in notifier.sent[-1][1]
        outcomes = await runner.run(Outbox.fallback_outcomes, [1])
        assert outcomes[1].via == ("json",) and event_id
    finally:
        await runner.close()


async def test_every_url_failing_is_retried_then_failed_and_the_report_released(tmp_path: Path) -> None:
    runner = await open_outbox(tmp_path)
    clock, notifier, nudged = FakeClock(), FakeNotifier(), []
    notifier.answer = Notified((), ("json",), False)
    settings = FallbackSettings(urls=["json://x/y"], retry=RetrySettings(attempts=3, backoff=1, max_backoff=1))  # type: ignore[list-item]
    config = Config.model_validate({"rooms": {"ops": {"topic": "Ops"}}})
    fallback = FallbackService(settings, store=runner, live=LiveRuntime(Runtime.compile(config)), notifier=notifier,
                               on_finished=lambda: nudged.append(1), clock=clock)
    try:
        await fallback.start()
        await fallback.on_login(IN)
        await enqueue(runner, "x", policy=DeliveryPolicy(attempts=1, backoff=1, max_backoff=1, priority=1))
        clock.advance(200)
        tries = 0
        while await fallback.step(notifier) or (await runner.run(Outbox.fallback_stats)).pending:
            tries += 1
            clock.advance(1)
            assert tries < 10
        assert len(notifier.sent) == 3 and nudged == [1]
        assert (await runner.run(Outbox.fallback_stats)).failed == 1
    finally:
        await runner.close()

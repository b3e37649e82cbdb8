"""The QR login against the fake iLink server: every status Tencent's client handles.

The UI is a script: what the person does when they see a QR code, a "scanned", a question.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridge.wechat.ilink.api import IlinkClient, Session
from bridge.wechat.ilink.errors import LoginFailed, LoginFailure
from bridge.wechat.ilink.login import AlreadyBound, Bound, qr_login
from bridge.wechat.ilink.models import QrCode
from tests.support.fake_ilink import FakeIlink
from tests.unit.wechat.ilink.conftest import BOT_AGENT


class Person:
    """Does on the fake what a person with a phone would, when the login shows them something."""

    def __init__(self, *, on_qr: Callable[[int], None], on_scanned: Callable[[], None] = lambda: None,
                 codes: tuple[str, ...] = ()) -> None:
        self.on_qr, self.on_scanned, self.codes = on_qr, on_scanned, list(codes)
        self.shown: list[tuple[str, int, int]] = []
        self.asked: list[bool] = []
        self.scans = 0

    async def show_qr(self, qr: QrCode, *, attempt: int, attempts: int) -> None:
        self.shown.append((qr.url, attempt, attempts))
        self.on_qr(attempt)

    async def scanned(self) -> None:
        self.scans += 1
        self.on_scanned()

    async def ask_verify_code(self, *, retry: bool) -> str:
        self.asked.append(retry)
        return self.codes.pop(0)


def login_client(fake: FakeIlink, session: Session) -> IlinkClient:
    return IlinkClient(session=session, base_url=fake.base_url, bot_agent=BOT_AGENT)


async def login(fake: FakeIlink, session: Session, person: Person, **kw: object) -> Bound | AlreadyBound:
    return await qr_login(login_client(fake, session), person, redirect_base=lambda host: f"http://{host}",
                          poll_pause=0.0, **kw)  # type: ignore[arg-type]


async def test_scan_and_confirm_bind_the_person_and_name_the_host_for_later_calls(
        fake: FakeIlink, session: Session) -> None:
    person = Person(on_qr=lambda _: fake.scan("alice@im.wechat"), on_scanned=fake.confirm)
    bound = await login(fake, session, person)
    assert isinstance(bound, Bound)
    bot = fake.login.bot
    assert bot is not None
    assert (bound.token, bound.bot_id, bound.user_id, bound.base_url) == (
        bot.token, bot.bot_id, "alice@im.wechat", fake.second_url)
    assert person.shown == [(fake.login.url, 1, 3)] and person.scans == 1
    qr_request = next(r for r in fake.requests if r.path == "/ilink/bot/get_bot_qrcode")
    assert (qr_request.method, qr_request.query, qr_request.body) == ("POST", {"bot_type": "3"},
                                                                      {"local_token_list": []})
    stored = bound.credentials("alice", bound_at=5.0)
    assert (stored.name, stored.token, stored.base_url, stored.bound_at) == ("alice", bot.token, fake.second_url, 5.0)
    # the token the login returned works on the host it named
    client = IlinkClient(session=session, base_url=bound.base_url, token=bound.token, bot_agent=BOT_AGENT)
    assert await client.get_config(user_id=bound.user_id)
    assert fake.requests[-1].port == fake.second_port


async def test_a_scan_in_another_data_centre_is_followed_there(fake: FakeIlink, session: Session) -> None:
    person = Person(on_qr=lambda _: fake.scan("bob@im.wechat", redirect=True), on_scanned=fake.confirm)
    bound = await login(fake, session, person)
    assert isinstance(bound, Bound) and bound.user_id == "bob@im.wechat"
    polls = [r.port for r in fake.requests if r.path == "/ilink/bot/get_qrcode_status"]
    assert polls[0] == fake.port and polls[-1] == fake.second_port


async def test_the_number_from_the_phone_is_asked_again_when_wrong(
        fake: FakeIlink, session: Session) -> None:
    person = Person(on_qr=lambda _: fake.scan("carol@im.wechat", verify_code="42"), on_scanned=fake.confirm,
                    codes=("41", "42"))
    bound = await login(fake, session, person)
    assert isinstance(bound, Bound) and bound.user_id == "carol@im.wechat"
    assert person.asked == [False, True]
    sent = [r.query.get("verify_code") for r in fake.requests if r.path == "/ilink/bot/get_qrcode_status"]
    assert "41" in sent and "42" in sent


async def test_wrong_numbers_too_often_end_in_a_fresh_code_and_then_a_clear_failure(
        fake: FakeIlink, session: Session) -> None:
    fake.verify_attempts = 1
    person = Person(on_qr=lambda _: fake.scan("dan@im.wechat", verify_code="42"), codes=("1",) * 3)
    with pytest.raises(LoginFailed) as failed:
        await login(fake, session, person)
    assert failed.value.reason is LoginFailure.VERIFY_BLOCKED
    assert [attempt for _, attempt, _ in person.shown] == [1, 2, 3]


async def test_an_expired_code_is_replaced_and_the_fresh_one_works(
        fake: FakeIlink, session: Session) -> None:
    person = Person(on_qr=lambda attempt: fake.expire_qr() if attempt == 1 else fake.scan("erin@im.wechat"),
                    on_scanned=fake.confirm)
    bound = await login(fake, session, person)
    assert isinstance(bound, Bound)
    assert len({url for url, _, _ in person.shown}) == 2


async def test_a_code_expiring_three_times_ends_with_a_sentence_saying_so(
        fake: FakeIlink, session: Session) -> None:
    person = Person(on_qr=lambda _: fake.expire_qr())
    with pytest.raises(LoginFailed, match="expired 3 times") as failed:
        await login(fake, session, person)
    assert failed.value.reason is LoginFailure.EXPIRED
    assert len(fake.logins) == 3


async def test_a_person_already_bound_here_is_told_so(fake: FakeIlink, session: Session) -> None:
    bot = fake.add_bot("frank@im.wechat")
    person = Person(on_qr=lambda _: fake.scan("frank@im.wechat"))
    outcome = await login(fake, session, person, local_tokens=[bot.token])
    assert outcome == AlreadyBound()
    assert fake.login.local_tokens == [bot.token]


async def test_nobody_scanning_ends_at_the_deadline(fake: FakeIlink, session: Session) -> None:
    fake.qr_hold = 0.05
    person = Person(on_qr=lambda _: None)
    with pytest.raises(LoginFailed) as failed:
        await login(fake, session, person, within=0.3)
    assert failed.value.reason is LoginFailure.TIMED_OUT


async def test_no_qr_code_from_ilink_is_a_failed_login(session: Session) -> None:
    client = IlinkClient(session=session, base_url="http://127.0.0.1:9", bot_agent=BOT_AGENT)
    with pytest.raises(LoginFailed) as failed:
        await qr_login(client, Person(on_qr=lambda _: None))
    assert failed.value.reason is LoginFailure.QR_UNAVAILABLE

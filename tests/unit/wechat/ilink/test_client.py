"""IlinkClient against the fake iLink server: what the person receives, and what the caller is told."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest

from bridge.errors import GatewayUnavailable, SendInDoubt
from bridge.wechat.ilink import cdn
from bridge.wechat.ilink.api import IlinkClient, Session
from bridge.wechat.ilink.errors import (
    IlinkInDoubt,
    IlinkTokenRefused,
    IlinkUnreachable,
    RateLimited,
    SessionExpired,
    WindowClosed,
)
from tests.support.fake_ilink import Bot, FakeIlink
from tests.unit.wechat.ilink.conftest import BOT_AGENT, until


async def test_requests_carry_the_headers_and_base_info_of_tencents_client(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    ctx = fake.push(alice.user_id, "hi")
    await client.send_text(to_user_id=alice.user_id, text="hello", context_token=ctx)
    sent = [r for r in fake.requests if r.path == "/ilink/bot/sendmessage"][-1]
    assert sent.headers["AuthorizationType"] == "ilink_bot_token"
    assert sent.headers["Authorization"] == f"Bearer {alice.token}"
    assert sent.headers["iLink-App-Id"] == "bot"
    assert sent.headers["iLink-App-ClientVersion"] == str((2 << 16) | (4 << 8) | 9)
    assert int(base64.b64decode(sent.headers["X-WECHAT-UIN"]).decode()) < 2**32
    assert sent.body["base_info"] == {"channel_version": "2.4.9", "bot_agent": BOT_AGENT}
    msg = sent.body["msg"]
    assert (msg["to_user_id"], msg["message_type"], msg["message_state"], msg["context_token"]) == (
        alice.user_id, 2, 2, ctx)
    assert msg["item_list"] == [{"type": 1, "text_item": {"text": "hello"}}]
    assert msg["client_id"].startswith("wechat-mqtt-bridge:")


async def test_a_long_poll_is_held_until_the_person_writes_and_the_cursor_moves_on(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    fake.poll_hold = 30.0
    poll = asyncio.create_task(client.get_updates(""))
    await until(lambda: fake.pending_polls(alice) == 1, what="the poll to be held")
    assert not poll.done()
    ctx = fake.push(alice.user_id, "门开着吗？")
    updates = await poll
    assert [(m.from_user_id, m.text, m.context_token) for m in updates.messages] == [
        (alice.user_id, "门开着吗？", ctx)]
    assert updates.messages[0].message_id == str(7_300_000_000_000_000_001)  # a uint64, not rounded
    assert updates.longpolling_timeout_ms == 35_000
    assert updates.cursor
    fake.push(alice.user_id, "second")
    again = await client.get_updates(updates.cursor)
    assert [m.text for m in again.messages] == ["second"]  # the first is not replayed


async def test_a_poll_that_outlasts_our_timeout_is_an_empty_batch_with_the_same_cursor(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    fake.push(alice.user_id, "hi")
    first = await client.get_updates("")
    fake.poll_hold = 30.0
    updates = await client.get_updates(first.cursor, poll_seconds=0.3)
    assert (updates.messages, updates.cursor) == ((), first.cursor)


async def test_a_send_answered_without_message_id_is_accepted(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    ctx = fake.push(alice.user_id, "hi")
    accepted = await client.send_text(to_user_id=alice.user_id, text="Door open", context_token=ctx)
    assert accepted.message_id is None
    assert fake.texts(alice.user_id) == ["Door open"]
    fake.message_ids = True
    accepted = await client.send_text(to_user_id=alice.user_id, text="Door shut", context_token=ctx)
    assert accepted.message_id == str(7_300_000_000_000_000_002)


async def test_the_budget_used_up_is_a_closed_window_and_nothing_arrives(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    fake.budget = 2
    ctx = fake.push(alice.user_id, "hi")
    for text in ("one", "two"):
        await client.send_text(to_user_id=alice.user_id, text=text, context_token=ctx)
    with pytest.raises(WindowClosed) as refused:
        await client.send_text(to_user_id=alice.user_id, text="three", context_token=ctx)
    assert (refused.value.ret, refused.value.errcode, refused.value.errmsg) == (-2, None, None)
    assert isinstance(refused.value, GatewayUnavailable)  # waits; not in doubt, not failed
    assert not isinstance(refused.value, SendInDoubt)
    assert fake.texts(alice.user_id) == ["one", "two"]
    ctx2 = fake.push(alice.user_id, "again")
    await client.send_text(to_user_id=alice.user_id, text="three", context_token=ctx2)
    assert fake.texts(alice.user_id) == ["one", "two", "three"]


async def test_the_window_over_is_a_closed_window(fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    fake.window_seconds = 0.0
    ctx = fake.push(alice.user_id, "hi")
    with pytest.raises(WindowClosed):
        await client.send_text(to_user_id=alice.user_id, text="late", context_token=ctx)
    assert fake.received() == []


async def test_a_rate_limit_is_told_apart_from_a_closed_window(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    ctx = fake.push(alice.user_id, "hi")
    fake.rate_limit(1)
    with pytest.raises(RateLimited) as limited:
        await client.send_text(to_user_id=alice.user_id, text="quick", context_token=ctx)
    assert (limited.value.ret, limited.value.errmsg) == (-2, "rate limited")
    await client.send_text(to_user_id=alice.user_id, text="quick", context_token=ctx)
    assert fake.texts(alice.user_id) == ["quick"]


async def test_an_expired_session_is_errcode_minus_14_for_sends_and_polls(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    ctx = fake.push(alice.user_id, "hi")
    fake.expire_session(alice.user_id)
    with pytest.raises(SessionExpired) as expired:
        await client.send_text(to_user_id=alice.user_id, text="x", context_token=ctx)
    assert expired.value.errcode == -14
    with pytest.raises(SessionExpired):
        await client.get_updates("")
    with pytest.raises(SessionExpired):
        await client.get_config(user_id=alice.user_id)


async def test_getconfig_tells_a_good_token_from_an_unknown_one(
        fake: FakeIlink, client: IlinkClient, session: Session, alice: Bot) -> None:
    assert await client.get_config(user_id=alice.user_id)
    stranger = IlinkClient(session=session, base_url=fake.base_url, token="not-a-token", bot_agent=BOT_AGENT)
    with pytest.raises(SessionExpired):
        await stranger.get_config(user_id=alice.user_id)
    anonymous = IlinkClient(session=session, base_url=fake.base_url, token=None, bot_agent=BOT_AGENT)
    with pytest.raises(IlinkTokenRefused) as refused:
        await anonymous.get_config(user_id=alice.user_id)
    assert refused.value.status == 401


async def test_a_host_that_does_not_answer_is_unreachable_before_anything_left(
        session: Session) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = IlinkClient(session=session, base_url=f"http://127.0.0.1:{port}", token="t", bot_agent=BOT_AGENT)
    with pytest.raises(IlinkUnreachable) as unreachable:
        await client.send_text(to_user_id="u", text="x", context_token="c")
    assert isinstance(unreachable.value, GatewayUnavailable)


async def test_a_send_whose_answer_never_comes_is_in_doubt_though_it_arrived(
        fake: FakeIlink, session: Session, alice: Bot) -> None:
    client = IlinkClient(session=session, base_url=fake.base_url, token=alice.token, bot_agent=BOT_AGENT,
                         api_timeout=0.5)
    ctx = fake.push(alice.user_id, "hi")
    fake.hang_sends(1)
    try:
        with pytest.raises(IlinkInDoubt) as doubt:
            await client.send_text(to_user_id=alice.user_id, text="maybe", context_token=ctx)
    finally:
        fake.release()
    assert isinstance(doubt.value, SendInDoubt)
    assert fake.texts(alice.user_id) == ["maybe"]  # why it is in doubt, not failed


async def test_an_image_with_a_caption_arrives_byte_identical_as_two_messages(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    image = bytes(range(256)) * 41 + b"tail"  # not a multiple of 16: padding is exercised
    ctx = fake.push(alice.user_id, "hi")
    sent = await cdn.send_image(client, to_user_id=alice.user_id, data=image, caption="Front door",
                                context_token=ctx, cdn_base_url=fake.cdn_base_url)
    assert len(sent) == 2
    got = fake.received(alice.user_id)
    assert [(r.kind, r.text) for r in got] == [("text", "Front door"), ("image", "")]
    assert got[1].data == image


async def test_a_file_goes_through_the_cdn_even_after_a_failed_upload(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    data = b"%PDF-1.4 report" * 100
    ctx = fake.push(alice.user_id, "hi")
    fake.fail_uploads(2)  # Tencent's client tries three times
    fake.full_upload_urls = True
    await cdn.send_file(client, to_user_id=alice.user_id, data=data, file_name="report.pdf", context_token=ctx,
                        cdn_base_url="http://127.0.0.1:9/unused")  # upload_full_url wins
    [got] = fake.received(alice.user_id)
    assert (got.kind, got.file_name, got.data) == ("file", "report.pdf", data)
    assert [r for r in fake.requests if r.path == "/c2c/upload"][-1].headers.get("Authorization") is None


def test_aes_is_ecb_with_pkcs7_and_the_key_field_is_base64_of_hex() -> None:
    key = bytes(range(16))
    assert cdn.decrypt(cdn.encrypt(b"", key), key) == b""
    assert [len(cdn.encrypt(b"x" * n, key)) for n in (0, 15, 16, 17)] == [16, 16, 32, 32]
    assert [cdn.padded_size(n) for n in (0, 15, 16, 17)] == [16, 16, 32, 32]
    assert base64.b64decode(cdn.aes_key_field(key)) == b"000102030405060708090a0b0c0d0e0f"


async def test_a_poll_cut_off_is_a_failure_not_an_empty_batch(
        fake: FakeIlink, client: IlinkClient, alice: Bot) -> None:
    fake.cut_polls(1)
    with pytest.raises(IlinkInDoubt) as cut:
        await client.get_updates("")
    assert (cut.value.timed_out, cut.value.status) == (False, None)
    fake.push(alice.user_id, "after the cut")
    assert [m.text for m in (await client.get_updates("")).messages] == ["after the cut"]

"""Tencent's own client (@tencent-weixin/openclaw-weixin 2.4.9, tests/ilink_client/) against the fake iLink server.

The fake is only worth what it agrees with: here the real client logs in (through a redirect and a
wrong, then right, verify code), polls, sends a text and an image through the CDN, and is refused
past the budget, all against the fake, and the test reads both sides. The same requests from our
client are then compared with Tencent's, header by header and field by field.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bridge.wechat.ilink.api import IlinkClient, new_session
from tests.support.fake_ilink import Bot, FakeIlink, Request
from tests.support.waiting import wait_for
from tests.unit.wechat.ilink.conftest import BOT_AGENT

CLIENT = Path(__file__).resolve().parents[3] / "ilink_client"
IMAGE = bytes(range(256)) * 7 + b"\x89PNG tail"


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("Node.js is not installed (scripts/setup.sh installs it)")
    assert (CLIENT / "node_modules/@tencent-weixin/openclaw-weixin/package.json").exists(), \
        "Tencent's client is not installed: run scripts/setup.sh (npm ci in tests/ilink_client/)"
    return found


def test_tencents_client_logs_in_polls_and_sends_through_the_fake(node: str, tmp_path: Path) -> None:
    with FakeIlink(budget=3, poll_hold=30.0) as fake:
        result, bot, context_token = run_tencent_client(fake, node, tmp_path)

        # the login: redirect followed, verify code asked again, the second host named for later calls
        assert result["login"] == {"connected": True, "botToken": bot.token, "accountId": bot.bot_id,
                                   "baseUrl": fake.second_url, "userId": "alice@im.wechat",
                                   "message": result["login"]["message"]}
        assert result["qrcodeUrl"] == fake.login.url
        assert any(r.port == fake.second_port for r in fake.requests if r.path == "/ilink/bot/get_qrcode_status")
        qr = next(r for r in fake.requests if r.path == "/ilink/bot/get_bot_qrcode")
        assert (qr.method, qr.query, qr.body) == ("POST", {"bot_type": "3"}, {"local_token_list": []})

        # the poll: the message, its token, a uint64 id read losslessly; the cursor is not replayed
        [msg] = result["updates"]["msgs"]
        assert (msg["from_user_id"], msg["context_token"], msg["message_id"]) == (
            "alice@im.wechat", context_token, "7300000000000000001")
        assert msg["item_list"] == [{"type": 1, "text_item": {"text": "hello bot"}}]
        assert [m["item_list"][0]["text_item"]["text"] for m in result["again"]["msgs"]] == ["second"]
        assert (result["expired"]["ret"], result["expired"]["errcode"]) == (-14, -14)  # monitor.ts pauses on it

        # the sends: what the person got, byte for byte; the fourth refused as the budget says
        got = fake.received("alice@im.wechat")
        assert [(r.kind, r.text) for r in got] == [("text", "Tencent's client says hello"), ("text", "Front door"),
                                                   ("image", "")]
        assert got[2].data == IMAGE
        assert result["refused"] == "sendMessage ret=-2 errmsg=(none)"
        assert result["typingTicket"]

        # our client sends what Tencent's sends
        tencent = sendmessages(fake)[0]
        asyncio.run(send_like_tencent(fake, bot.token, context_token))
        ours = sendmessages(fake)[-1]
        assert ours.body["msg"]["item_list"] == [{"type": 1, "text_item": {"text": "ours"}}]
        for name in ("AuthorizationType", "iLink-App-Id", "iLink-App-ClientVersion", "Content-Type"):
            assert ours.headers[name] == tencent.headers[name], name
        assert {"Authorization", "X-WECHAT-UIN"} <= ours.headers.keys() & tencent.headers.keys()
        assert tencent.body["base_info"] == {"channel_version": "2.4.9", "bot_agent": "OpenClaw"}
        assert ours.body["base_info"] == {"channel_version": "2.4.9", "bot_agent": BOT_AGENT}
        assert ours.body["msg"].keys() == tencent.body["msg"].keys() - {"run_id"}
        for field in ("from_user_id", "to_user_id", "message_type", "message_state", "context_token"):
            assert ours.body["msg"][field] == tencent.body["msg"][field], field


def polls(fake: FakeIlink) -> int:
    return sum(1 for r in fake.requests if r.path == "/ilink/bot/getupdates")


def polled_with(fake: FakeIlink, code: str) -> bool:
    return any(r.query.get("verify_code") == code for r in fake.requests if r.path == "/ilink/bot/get_qrcode_status")


def sendmessages(fake: FakeIlink) -> list[Request]:
    return [r for r in fake.requests if r.path == "/ilink/bot/sendmessage"]


async def send_like_tencent(fake: FakeIlink, token: str, context_token: str) -> None:
    fake.budget = 4
    fake.restore_session("alice@im.wechat")
    async with new_session() as session:
        client = IlinkClient(session=session, base_url=fake.second_url, token=token, bot_agent=BOT_AGENT)
        await client.send_text(to_user_id="alice@im.wechat", text="ours", context_token=context_token)


def run_tencent_client(fake: FakeIlink, node: str, tmp_path: Path) -> tuple[dict[str, Any], Bot, str]:
    """Run run.mjs, playing the person on the fake's side at each step; its RESULT, the bot, the first token."""
    env = {**os.environ, "ILINK_FAKE_URL": fake.base_url, "ILINK_CDN_URL": fake.cdn_base_url,
           "ILINK_IMAGE_HEX": IMAGE.hex(), "OPENCLAW_STATE_DIR": str(tmp_path / "state"),
           "OPENCLAW_TMP_DIR": str(tmp_path / "log"), "HOME": str(tmp_path)}
    proc = subprocess.Popen([node, "--import", "./host-map.mjs", "run.mjs"], cwd=CLIENT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        wait_for(lambda: fake.logins, timeout=20, what="Tencent's client to ask for a QR code")
        fake.scan("alice@im.wechat", redirect=True, verify_code="42")
        proc.stdin.write("41\n")  # the person mistypes the number the phone shows
        proc.stdin.flush()
        wait_for(lambda: polled_with(fake, "41"), timeout=20, what="the wrong number to reach the fake")
        proc.stdin.write("42\n")
        proc.stdin.flush()
        wait_for(lambda: fake.login.state == "scaned", timeout=20, what="the right number to be taken")
        bot = fake.confirm()
        context_token = fake.push("alice@im.wechat", "hello bot")
        wait_for(lambda: polls(fake) == 2 and fake.pending_polls(bot) == 1, timeout=30,
                 what="the client's second poll to be held")
        fake.push("alice@im.wechat", "second")
        wait_for(lambda: polls(fake) == 3 and fake.pending_polls(bot) == 1, timeout=30,
                 what="the client's third poll to be held")
        fake.expire_session("alice@im.wechat")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return result, bot, context_token

"""`doctor` for the official bot, against the real broker and the fake iLink server: one line per person."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.wechat.ilink.credentials import Credentials, CredentialStore, Cursor
from tests.support.broker import MosquittoBroker, free_port
from tests.support.fake_ilink import Bot, FakeIlink

pytestmark = pytest.mark.integration

ROOMS = """\
rooms:
  me: {ilink: alice}
  grandpa: {ilink: bob}
  aunt: {ilink: carol}
  quiet: {ilink: dave}
"""


@pytest.fixture
def fake() -> Iterator[FakeIlink]:
    with FakeIlink(poll_hold=1.0) as server:
        yield server


def write_config(tmp_path: Path, *, broker: MosquittoBroker, base_url: str) -> Path:
    path = tmp_path / "doctor.yaml"
    path.write_text(
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}, client_id: doctor-ilink, base_topic: doctor}}\n"
        f"ilink: {{base_url: '{base_url}', credentials: '{tmp_path / 'ilink'}', per_message: 10}}\n"
        f"outbox: {{path: '{tmp_path / 'outbox.sqlite3'}'}}\n" + ROOMS)
    return path


def bind(store: CredentialStore, fake: FakeIlink, name: str, user_id: str, cursor: Cursor) -> Bot:
    """As `ilink login` leaves it: the credentials of a bot the fake knows, and the poll's cursor."""
    bot = fake.add_bot(user_id)
    store.save(Credentials(name=name, token=bot.token, base_url=fake.base_url, bot_id=bot.bot_id, user_id=user_id,
                           bound_at=time.time() - 86400))
    store.save_cursor(name, cursor)
    return bot


def bound_at(store: CredentialStore, name: str) -> str:
    credentials = store.load(name)
    assert credentials is not None
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(credentials.bound_at))


def doctor(path: Path) -> tuple[int, list[str], str]:
    result = subprocess.run([sys.executable, "-m", "bridge", "doctor", "--config", str(path)], check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines(), result.stdout


def test_each_person_bound_with_a_token_accepted_and_their_window(
        tmp_path: Path, broker: MosquittoBroker, fake: FakeIlink) -> None:
    path = write_config(tmp_path, broker=broker, base_url=fake.base_url)
    store = CredentialStore(tmp_path / "ilink")
    now = time.time()
    alice = bind(store, fake, "alice", "alice@im.wechat", Cursor(context_token="ctx-a", last_inbound_at=now - 3600,
                                                                   spent=3))
    bob = bind(store, fake, "bob", "bob@im.wechat", Cursor(context_token="ctx-b", last_inbound_at=now - 60))
    fake.expire_session("bob@im.wechat")
    bind(store, fake, "dave", "dave@im.wechat", Cursor())  # bound, but has never written to the bot

    code, lines, out = doctor(path)
    assert lines[0] == f"✓ config: {path} is valid (0 routes, 4 rooms)"
    assert lines[1].startswith("✓ broker: connected to 127.0.0.1:")
    # No group chat: no gateway is needed, and none is checked.
    assert not any(line.split(":")[0].endswith(("gateway", "token", "login")) for line in lines)
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(now - 3600 + 24 * 3600))
    assert lines[2:] == [
        f"✓ ilink: {fake.base_url} answers",
        f"✓ ilink alice: bound {bound_at(store, 'alice')}; iLink accepts the token",
        f"✓ window alice: open until {until}; 7 of 10 messages left",
        "✗ ilink bob: iLink says the session expired (errcode -14) Fix: log bob in again: "
        f"`wechat-mqtt-bridge ilink login --config {path} --name bob` (or the status page; a running bridge starts "
        "one itself after the pause).",
        "○ window bob: not checked: it needs a token iLink accepts",
        "✗ ilink carol: nobody is bound as 'carol' (rooms: aunt) Fix: run "
        f"`wechat-mqtt-bridge ilink login --config {path} --name carol` and scan the QR code with their WeChat "
        "(or start the login on the status page).",
        "○ window carol: not checked: it needs a bound person",
        f"✓ ilink dave: bound {bound_at(store, 'dave')}; iLink accepts the token",
        "✗ window dave: dave has not written to the bot yet: it may write only after a message from them Fix: dave "
        "writes anything to the bot in WeChat: that opens the window with 10 messages.",
    ]
    assert code == 1
    # Each bound person's token was tried with getconfig, and never printed; nothing was polled or sent.
    for bot in (alice, bob):
        assert [r.path for r in fake.requests_of(bot.token)] == ["/ilink/bot/getconfig"]
        assert bot.token not in out
    assert not any(r.path.endswith(("getupdates", "sendmessage")) for r in fake.requests)


def test_ilink_unreachable_skips_the_tokens_but_still_names_who_is_not_bound(
        tmp_path: Path, broker: MosquittoBroker, fake: FakeIlink) -> None:
    path = write_config(tmp_path, broker=broker, base_url=f"http://127.0.0.1:{free_port()}")
    bind(CredentialStore(tmp_path / "ilink"), fake, "alice", "alice@im.wechat", Cursor())
    code, lines, _ = doctor(path)
    assert re.fullmatch(r"✗ ilink: cannot reach http://127\.0\.0\.1:\d+: iLink cannot be reached \(getconfig\): .* "
                        r"Fix: check the network \(and a proxy\) to that host, or ilink\.base_url\.", lines[2])
    assert lines[3:5] == ["○ ilink alice: not checked: it needs iLink reachable",
                          "○ window alice: not checked: it needs iLink reachable"]
    assert lines[5].startswith("✗ ilink bob: nobody is bound as 'bob' (rooms: grandpa) Fix: run `wechat-mqtt-bridge")
    assert code == 1

"""The official WeChat bot (iLink) end to end: the real broker, the bridge as a subprocess, and the
fake iLink server (tests/support/fake_ilink.py) standing in for Tencent's, with no gateway at all.

Each test reads what a person would see: the texts at the fake (what reached WeChat), the reports
on `wechat/bridge/delivery`, `wechat/bridge/ilink/<name>` and, for the fallback, the notification
service's posts.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.chat import qr_url
from bridge.wechat.rooms import ilink_room_id
from tests.integration.conftest import DELIVERY
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.fake_ilink import Bot, FakeIlink
from tests.support.mqtt_client import TestClient
from tests.support.notify_server import NotifyServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@im.wechat", "bob@im.wechat"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeIlink]:
    with FakeIlink(poll_hold=1.0) as server:
        yield server


class Home:
    """A config for the official bot only, its credentials folder, and the bridges started on it."""

    def __init__(self, tmp_path: Path, broker: MosquittoBroker, fake: FakeIlink) -> None:
        self.dir, self.broker, self.fake = tmp_path, broker, fake
        self.credentials = tmp_path / "ilink"
        self.config = tmp_path / "config.yaml"
        self.bridges: list[BridgeProcess] = []
        self.client_id = f"bridge-ilink-{uuid.uuid4().hex[:6]}"

    def write(self, body: str, *, ilink: str = "", extra: str = "", pacing: str = "{enabled: false}") -> Path:
        """The config: our broker, the fake as iLink (`ilink`: more keys of that section), `body` (rooms,
        routes) and `extra` (other sections)."""
        lines = [
            f"mqtt: {{host: 127.0.0.1, port: {self.broker.port}, client_id: {self.client_id}, base_topic: wechat}}",
            "ilink:",
            f"  base_url: {self.fake.base_url}",
            f"  cdn_base_url: {self.fake.cdn_base_url}",
            f"  credentials: {self.credentials}",
            *(f"  {line}" for line in textwrap.dedent(ilink).splitlines() if line.strip()),
            f"outbox: {{path: {self.dir / 'outbox.sqlite3'}}}",
            f"pacing: {pacing}",
            "log_level: debug",
        ]
        self.config.write_text("\n".join(lines) + "\n" + textwrap.dedent(extra) + textwrap.dedent(body))
        return self.config

    def bind(self, name: str, user_id: str) -> Bot:
        """`wechat-mqtt-bridge ilink login --name NAME`, the person scanning and confirming on the fake."""
        before = len(self.fake.logins)
        process = subprocess.Popen([sys.executable, "-m", "bridge", "ilink", "login", "--config", str(self.config),
                                    "--name", name], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            wait_for(lambda: len(self.fake.logins) > before, timeout=20, what="the login asking for a QR code")
            self.fake.scan(user_id)
            bot = self.fake.confirm()
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, out + err
        assert f"Scan this QR code with {name}'s WeChat, or open {self.fake.login.url}" in out
        assert "█" in out or "▀" in out or "▄" in out  # the QR code itself, drawn in the terminal
        assert f"Bound {name} to the official WeChat bot" in out
        assert bot.token not in out + err
        stored = self.credentials / f"{name}.json"
        assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
        assert json.loads(stored.read_text())["token"] == bot.token
        return bot

    def start(self) -> BridgeProcess:
        process = BridgeProcess(self.config, env={})
        self.bridges.append(process)
        return process.start(wait_ready=True)


@pytest.fixture
def home(tmp_path: Path, broker: MosquittoBroker, fake: FakeIlink) -> Iterator[Home]:
    found = Home(tmp_path, broker, fake)
    yield found
    for bridge in found.bridges:
        bridge.stop()


@pytest.fixture
def watcher(broker: MosquittoBroker) -> Iterator[TestClient]:
    client = TestClient(broker.host, broker.port, ["wechat/#"])
    yield client
    client.close()


ME = """\
rooms:
  me: {ilink: alice, listen: true}
routes:
  - name: door
    topic: "home/door"
    rooms: [me]
    template: "Door {{ payload.state }} ({{ payload.id }})"
  - name: alarm
    topic: "home/alarm"
    rooms: [me]
    priority: high
    template: "ALARM {{ payload.id }}"
"""


def event(watcher: TestClient, topic: str = "home/door", **fields: Any) -> str:
    event_id = uuid.uuid4().hex[:8]
    watcher.publish(topic, json.dumps({"id": event_id, "state": "open", **fields}))
    return event_id


def report(watcher: TestClient, event_id: str, timeout: float = 20.0) -> dict[str, Any]:
    [found] = watcher.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == event_id, timeout=timeout,
                               what=f"the report of {event_id}")
    return dict(found.json())


def person(watcher: TestClient, name: str, predicate: Any, what: str, timeout: float = 20.0) -> dict[str, Any]:
    """The newest `wechat/bridge/ilink/<name>` once one matches."""
    return dict(watcher.wait_json(f"wechat/bridge/ilink/{name}", predicate, timeout=timeout, what=what))


def texts_to(fake: FakeIlink, user: str) -> list[str]:
    return fake.texts(user)


def test_bound_with_ilink_login_then_routed_and_direct_sends_arrive_and_replies_reach_mqtt(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    home.write(ME)
    bot = home.bind("alice", ALICE)
    bridge = home.start()
    # Before alice writes, the bot may not write to her: the event waits, counted, and is not failed.
    state = person(watcher, "alice", lambda s: s["state"] == "logged_in", "alice logged in")
    assert state["budget"] == 0 and "has not written to the official bot yet" in state["reason"]
    door = event(watcher)
    person(watcher, "alice", lambda s: s["waiting"] == 1, "one delivery waiting for alice")
    assert not [m for m in watcher.messages(DELIVERY)]
    fake.push(ALICE, "hi bot")
    reply = watcher.wait_json("wechat/rooms/me/message", timeout=20, what="alice's reply on MQTT")
    assert (reply["text"], reply["room"]["key"]) == ("hi bot", "me")
    assert report(watcher, door)["status"] == "delivered"
    watcher.publish("wechat/send/me", json.dumps({"id": "direct-1", "text": "Dinner is ready"}))
    assert report(watcher, "direct-1")["status"] == "delivered"
    assert texts_to(fake, ALICE) == [f"Door open ({door})", "Dinner is ready"]
    person(watcher, "alice", lambda s: s["budget"] == 8 and s["waiting"] == 0 and s["window_until"],
           "alice's budget after two sends")
    # No token anywhere a person or another client could read it.
    everything = "\n".join(m.payload.decode(errors="replace") for m in watcher.messages()) + bridge.log()
    assert bot.token not in everything


BUDGET = "per_message: 2\nnudge_at: 1\n"
PACED = "{enabled: true, min_gap: 2s, jitter: 0s, global_limit: 100, room_limit: 100}"


def test_the_budget_nudges_then_folds_what_waits_into_the_last_message_then_waits_for_a_reply(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    home.write(ME, ilink=BUDGET, pacing=PACED)
    home.bind("alice", ALICE)
    home.start()
    fake.push(ALICE, "hi")
    person(watcher, "alice", lambda s: s["budget"] == 2, "alice's budget of 2")
    first = event(watcher)
    assert report(watcher, first)["status"] == "delivered"
    # Pacing holds the next send back two seconds: these three are due together when it may go.
    burst = [event(watcher) for _ in range(3)]
    for event_id in burst:
        assert report(watcher, event_id)["status"] == "delivered"
    later = [event(watcher) for _ in range(2)]
    person(watcher, "alice", lambda s: s["waiting"] == 2 and s["budget"] == 0, "two deliveries waiting")
    received = texts_to(fake, ALICE)
    assert received[0] == (f"Door open ({first})\n\n"
                           "(I can send you 1 more; reply anything to renew them.)")
    digest = received[1]
    assert digest.startswith("3 notifications:")
    assert all(f"Door open ({event_id})" in digest for event_id in burst)
    assert digest.endswith("(That was the last message I can send until you reply. "
                           "Reply anything to receive what comes next.)")
    assert len(received) == 2
    assert not [m for m in watcher.messages(DELIVERY) if m.json()["status"] == "failed"]
    fake.push(ALICE, "more please")
    for event_id in later:
        assert report(watcher, event_id)["status"] == "delivered"
    after = texts_to(fake, ALICE)[2:]
    assert len(after) == 1 and after[0].startswith("2 notifications:")
    assert all(f"Door open ({event_id})" in after[0] for event_id in later)


def test_a_closed_window_waits_a_high_priority_one_goes_through_apprise_and_all_arrive_once_after_a_reply(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    server = NotifyServer().start()
    try:
        home.write(ME, ilink="window: 2s\n", extra=(
            f"fallback:\n  urls: [{json.dumps(server.url())}]\n  logout_after: 1h\n  priority_after: 1s\n"
            "  timeout: 2s\n"))
        home.bind("alice", ALICE)
        home.start()
        fake.push(ALICE, "hi")
        person(watcher, "alice", lambda s: s["budget"] == 10, "alice's window open")
        person(watcher, "alice", lambda s: s["budget"] == 0 and "reply window" in (s["reason"] or ""),
               "alice's window closed by our estimate")
        plain, alarm = event(watcher), event(watcher, "home/alarm")
        [posted] = server.wait_for(lambda p: f"ALARM {alarm}" in p.message, what="the alarm through Apprise")
        assert posted.title.startswith("Not delivered in WeChat yet")
        person(watcher, "alice", lambda s: s["waiting"] == 2, "both waiting")
        assert texts_to(fake, ALICE) == []
        fake.push(ALICE, "back")
        assert report(watcher, plain)["status"] == "delivered"
        alarm_report = report(watcher, alarm)
        assert alarm_report["status"] == "delivered"
        received = texts_to(fake, ALICE)
        assert sorted(received) == sorted([f"Door open ({plain})", f"ALARM {alarm}"])
    finally:
        server.close()


def test_a_refusal_before_our_estimate_is_a_closed_window_and_a_rate_limit_is_waited_out(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    home.write(ME, ilink="per_message: 10\n")
    home.bind("alice", ALICE)
    home.start()
    fake.budget = 1  # the server allows fewer than we think: it refuses the second send
    fake.push(ALICE, "hi")
    person(watcher, "alice", lambda s: s["budget"] == 10, "alice's window open")
    first = event(watcher)
    assert report(watcher, first)["status"] == "delivered"
    second = event(watcher)
    person(watcher, "alice", lambda s: s["budget"] == 0 and "refused" in (s["reason"] or ""),
           "the server's refusal closing alice's window")
    assert not [m for m in watcher.messages(DELIVERY) if m.json()["id"] == second]
    fake.budget = 10
    fake.rate_limit(1)
    fake.push(ALICE, "again")
    assert report(watcher, second, timeout=60)["status"] == "delivered"
    assert texts_to(fake, ALICE) == [f"Door open ({first})", f"Door open ({second})"]
    refusals = [r.get("errmsg") for r in fake.refusals]
    assert "rate limited" in refusals


def test_an_image_goes_through_the_cdn_byte_identical_and_two_people_have_their_own_budgets(
        home: Home, fake: FakeIlink, watcher: TestClient, tmp_path: Path) -> None:
    picture = bytes(range(256)) * 40
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "snap.jpg").write_bytes(picture)
    home.write("""\
        attachments: {directory: %s}
        rooms:
          a: {ilink: alice}
          b: {ilink: bob}
        routes:
          - name: snap
            topic: "cam/snap"
            rooms: [a]
            template: "Someone at the door"
            image: {path: "snap.jpg"}
          - name: both
            topic: "home/both"
            rooms: [a, b]
            template: "both {{ payload.id }}"
        """ % (tmp_path / "files"), ilink="per_message: 3\n")
    home.bind("alice", ALICE)
    home.bind("bob", BOB)
    home.start()
    fake.push(ALICE, "hi")
    fake.push(BOB, "hi")
    person(watcher, "bob", lambda s: s["budget"] == 3, "bob's window open")
    person(watcher, "alice", lambda s: s["budget"] == 3, "alice's window open")
    snap = event(watcher, "cam/snap")
    assert report(watcher, snap)["status"] == "delivered"
    [image] = [r for r in fake.received(ALICE) if r.kind == "image"]
    assert image.data == picture
    both = event(watcher, "home/both")
    reports = watcher.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == both, count=2,
                               what="both people's reports")
    assert {(r.json()["room"]["key"], r.json()["status"]) for r in reports} == {("a", "delivered"), ("b", "delivered")}
    # The caption and the image cost alice two, the next one a third: her budget is spent, bob has 2 left.
    person(watcher, "alice", lambda s: s["budget"] == 0, "alice's budget spent")
    person(watcher, "bob", lambda s: s["budget"] == 2, "bob with two left")


def test_a_mention_to_the_official_bot_goes_as_plain_text_with_a_note(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    """The official bot makes no real @-mentions (a person's chat has nobody to @): the name goes
    as text, delivered, and the report's note says so (issue 25)."""
    home.write("""\
        contacts:
          alice: {name: Alice}
        rooms:
          me: {ilink: alice}
        routes:
          - name: leak
            topic: "home/leak"
            rooms: [me]
            mention: [alice]
            template: "Water leak ({{ payload.id }})"
        """)
    home.bind("alice", ALICE)
    home.start()
    fake.push(ALICE, "hi")
    person(watcher, "alice", lambda s: s["budget"] == 10, "alice's window open")
    leak = event(watcher, "home/leak")
    found = report(watcher, leak)
    found.pop("ts")
    assert found == {
        "id": leak, "status": "delivered", "route": "leak", "topic": "home/leak",
        "room": {"key": "me", "id": ilink_room_id("alice"), "topic": "alice"}, "error": None,
        "note": "@Alice sent as plain text: the official bot cannot make real @-mentions, so nobody was notified"}
    assert texts_to(fake, ALICE) == [f"@Alice Water leak ({leak})"]
    assert [m.json()["status"] for m in watcher.messages(DELIVERY)] == ["delivered"]


def test_ilink_only_bridge_imports_no_grpc() -> None:
    probe = ("import sys; import bridge.app; from bridge.config.models import Config; "
             "c = Config.model_validate({'rooms': {'me': {'ilink': 'alice'}}}); "
             "b = bridge.app.Bridge(c); "
             "print(b.gateway is None, b.official is not None, any(m == 'grpc' or m.startswith('grpc.') "
             "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=60)
    assert out.stdout.split() == ["True", "True", "False"], out.stderr


def test_an_expired_session_pauses_alerts_with_the_qr_of_a_new_login_and_that_login_delivers_what_waited(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    server = NotifyServer().start()
    try:
        home.write(ME, ilink="stale_pause: 2s\n", extra=(
            f"fallback:\n  urls: [{json.dumps(server.url())}]\n  logout_after: 6s\n  priority_after: 1h\n"
            "  timeout: 2s\n"))
        old = home.bind("alice", ALICE)
        home.start()
        fake.push(ALICE, "hi")
        first = event(watcher)
        assert report(watcher, first)["status"] == "delivered"
        fake.expire_session(ALICE)
        person(watcher, "alice", lambda s: s["state"] == "logged_out" and "expired (errcode -14)" in s["reason"],
               "alice logged out, saying why")
        seen_out = time.monotonic()  # the -14 was answered a moment before: the pause runs from there
        waiting = event(watcher)
        # After the pause the token is tried once more, refused again: a new QR login starts by itself.
        scan = person(watcher, "alice", lambda s: s["state"] == "scan" and s["qr"], "a QR code for alice", 30)
        calls = [r.at - seen_out for r in fake.requests_of(old.token) if r.at > seen_out]
        assert calls and min(calls) >= 1.5, f"a call within the 2 s stale pause: {calls}"
        [alert] = server.wait_for(lambda p: qr_url(scan["qr"]) in p.message, what="the logout alert with the QR",
                                  timeout=30)
        assert "official bot alice" in alert.message
        assert not [m for m in watcher.messages(DELIVERY) if m.json()["id"] == waiting]
        fake.scan(ALICE)
        new = fake.confirm()
        person(watcher, "alice", lambda s: s["state"] == "logged_in", "alice logged in again")
        fake.push(ALICE, "back", bot=new)
        assert report(watcher, waiting)["status"] == "delivered"
        assert fake.texts(ALICE) == [f"Door open ({first})", f"Door open ({waiting})"]
        assert json.loads((home.credentials / "alice.json").read_text())["token"] == new.token
    finally:
        server.close()


def test_sigkill_and_restart_replay_no_message_lose_no_delivery_and_send_at_most_one_again(
        home: Home, fake: FakeIlink, watcher: TestClient) -> None:
    home.write(ME, ilink="per_message: 50\n")
    home.bind("alice", ALICE)
    bridge = home.start()
    fake.push(ALICE, "one")
    watcher.wait_json("wechat/rooms/me/message", lambda m: m["text"] == "one", what="the first message")
    cursor = home.credentials / "alice.cursor.json"
    wait_for(lambda: json.loads(cursor.read_text()).get("get_updates_buf") if cursor.exists() else None,
             timeout=10, what="the poll's cursor stored")
    first = event(watcher)
    assert report(watcher, first)["status"] == "delivered"  # after it, no fold: one send per event
    ids = [first, *(event(watcher) for _ in range(6))]
    wait_for(lambda: len(fake.texts(ALICE)) >= 3, timeout=20, what="two more sends before the kill")
    bridge.kill()
    fake.push(ALICE, "two")  # written while the bridge is down
    home.start()
    for event_id in ids:
        assert report(watcher, event_id, timeout=30)["status"] == "delivered"
    messages = [m.json()["text"] for m in watcher.messages("wechat/rooms/me/message")]
    assert messages == ["one", "two"]
    texts = fake.texts(ALICE)
    copies = {event_id: sum(f"({event_id})" in text for text in texts) for event_id in ids}
    assert all(count >= 1 for count in copies.values()), copies
    assert sum(count - 1 for count in copies.values()) <= 1, copies

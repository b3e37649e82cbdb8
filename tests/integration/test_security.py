"""A locked door: TLS and a password on the broker, secrets kept out of every output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import BridgeFactory
from tests.support.broker import MosquittoBroker
from tests.support.certs import Pki, make_pki
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-Broker-Pw-4417"
TOKEN = "s3cret-gateway-token-9921"
ROOMS = """\
rooms:
  family: {topic: "Happy Family"}
routes:
  - {name: door, topic: "home/{area}/door", rooms: [family], template: "Door {{ area }}: {{ payload.state }}"}
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "trusted")


@pytest.fixture
def tls_broker(pki: Pki, tmp_path: Path) -> Iterator[MosquittoBroker]:
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "bridge", PASSWORD], check=True)
    passwords.chmod(0o600)
    broker = MosquittoBroker(
        listener_config=f"cafile {pki.ca_file}\ncertfile {pki.cert_file}\nkeyfile {pki.key_file}",
        allow_anonymous=False, extra_config=f"password_file {passwords}",
    ).start()
    yield broker
    broker.close()


def secure_client(broker: MosquittoBroker, pki: Pki, topics: list[str]) -> TestClient:
    return TestClient(broker.host, broker.port, topics, ca_file=str(pki.ca_file), username="bridge", password=PASSWORD)


def tls_lines(ca_file: Path, password_file: Path) -> str:
    return f"username: bridge\npassword_file: {password_file}\ntls: {{ca_file: {ca_file}}}\n"


def test_tls_and_password_from_a_file_work(
        start_bridge: BridgeFactory, tls_broker: MosquittoBroker, pki: Pki, gateway: MockGateway,
        tmp_path: Path) -> None:
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(PASSWORD + "\n")
    start_bridge(ROOMS, broker_=tls_broker, mqtt_extra=tls_lines(pki.ca_file, password_file))
    gateway.clear()
    client = secure_client(tls_broker, pki, ["wechat/bridge/delivery"])
    try:
        client.publish("home/front/door", json.dumps({"state": "open", "id": "tls-1"}))
        [report] = client.wait_for(lambda m: m.json()["id"] == "tls-1", what="delivery report over TLS")
        assert report.json()["status"] == "delivered"
        assert [(m["room_id"], m["text"]) for m in gateway.messages()] == [("room-family@chatroom", "Door front: open")]
    finally:
        client.close()


def refused_attempts(log: str, reason: str) -> list[float]:
    """The backoff delays the bridge announced for each refused connection attempt."""
    return [float(d) for d in re.findall(re.escape(reason) + r".*?reconnecting in ([\d.]+) s", log)]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("wrong password", "the broker refused the login"), ("untrusted certificate", "TLS certificate is not trusted")],
)
def test_a_refused_connection_is_one_clear_line_per_retry_with_backoff(
        start_bridge: BridgeFactory, tls_broker: MosquittoBroker, pki: Pki, tmp_path: Path,
        case: str, reason: str) -> None:
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("wrong" if case == "wrong password" else PASSWORD)
    ca_file = make_pki(tmp_path / "other", "untrusted").ca_file if case == "untrusted certificate" else pki.ca_file
    bridge = start_bridge(ROOMS, broker_=tls_broker, wait_ready=False, mqtt_extra=tls_lines(ca_file, password_file))
    # The broker refuses it, so nothing of the bridge shows on MQTT: the line a person reads in the
    # log is the requirement here (one per attempt, with the reason). The growing delays themselves
    # are tested on a fake clock (tests/unit/mqtt/test_session.py, tests/unit/test_tasks.py).
    bridge.wait_started()
    delays = wait_for(lambda: (found := refused_attempts(bridge.log(), reason))[2:] and found, timeout=15,
                      what=f"three retry lines saying {reason!r}", detail=lambda: bridge.log()[-3000:])
    assert bridge.running, "the bridge must keep retrying, never exit"
    assert delays[:3] == [0.5, 1.0, 2.0], delays
    assert "Traceback" not in bridge.log()


def test_secrets_never_appear_in_logs_reports_or_status(
        start_bridge: BridgeFactory, tls_broker: MosquittoBroker, pki: Pki, tmp_path: Path) -> None:
    gateway = MockGateway().start(token=TOKEN, fixture={
        "user": {"id": "bot", "name": "Bridge Bot"}, "contacts": [],
        "rooms": [{"id": "room-family@chatroom", "topic": "Happy Family", "members": []}]})
    password_file, token_file = tmp_path / "mqtt-password", tmp_path / "token"
    password_file.write_text(PASSWORD)
    token_file.write_text(TOKEN)
    everything = secure_client(tls_broker, pki, ["#"])
    try:
        bridge = start_bridge(ROOMS, broker_=tls_broker, gateway_=gateway, env={},
                              mqtt_extra=tls_lines(pki.ca_file, password_file),
                              wechaty_extra=f"token_file: {token_file}")
        for topic, payload in [("home/front/door", '{"state": "open"}'), ("home/front/door", "{broken"),
                               ("wechat/send/nowhere", "x"), ("wechat/bridge/request/health_check", "{}"),
                               ("wechat/bridge/request/reload", "{}"), ("wechat/bridge/request/rooms", "{}")]:
            everything.publish(topic, payload)
        everything.wait_for(lambda m: m.topic == "wechat/bridge/response/rooms", what="the last response")
        gateway.kill()  # connection errors get logged too
        everything.wait_for(lambda m: m.topic == "wechat/bridge/login"
                            and "cannot reach the gateway" in (m.json().get("reason") or ""),
                            what="bridge/login saying the gateway cannot be reached")
        bridge.stop()
        # A broken config names the key, not the value.
        broken = tmp_path / "broken.yaml"
        broken.write_text(f"mqtt: {{password: {PASSWORD}, port: nope}}\nwechaty: {{token: {TOKEN}, x: 1}}\n")
        check = subprocess.run([sys.executable, "-m", "bridge", "check", "-c", str(broken)], capture_output=True,
                               text=True, check=False)
        outputs = {
            "bridge log": bridge.log(),
            "MQTT messages": "\n".join(f"{m.topic} {m.payload!r}" for m in everything.messages()),
            "check output": check.stdout + check.stderr,
        }
        assert "wechat/bridge/info" in outputs["MQTT messages"] and "Bridge Bot" in outputs["bridge log"]
        assert check.returncode == 1 and "mqtt.port" in check.stderr
        for where, text in outputs.items():
            for secret in (PASSWORD, TOKEN):
                assert secret not in text, f"{secret[:6]}... leaked into the {where}"
    finally:
        everything.close()
        gateway.stop()

"""`doctor` against the real broker and gateway: one line per link, and exit 0 only when all hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import UNPACED, BridgeFactory
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway, free_port
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

ROOMS = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom"}
"""


def doctor_config(tmp_path: Path, *, broker_port: int, endpoint: str, token: str, rooms: str = ROOMS,
                  base_topic: str = "doctor") -> Path:
    path = tmp_path / "doctor.yaml"
    path.write_text(
        f"mqtt: {{host: 127.0.0.1, port: {broker_port}, client_id: doctor-test, base_topic: {base_topic}}}\n"
        f"wechaty: {{endpoint: '{endpoint}', token: '{token}'}}\n" + rooms)
    return path


def doctor(path: Path) -> tuple[int, list[str]]:
    result = subprocess.run([sys.executable, "-m", "bridge", "doctor", "--config", str(path)], check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def test_all_links_hold(tmp_path: Path, broker: MosquittoBroker, gateway: MockGateway) -> None:
    path = doctor_config(tmp_path, broker_port=broker.port, endpoint=gateway.endpoint, token=gateway.token)
    code, lines = doctor(path)
    assert lines[0] == f"✓ config: {path} is valid (0 routes, 2 rooms)"
    assert lines[1] == f"✓ broker: connected to 127.0.0.1:{broker.port} (anonymous); no bridge is online on it " \
                       "(doctor/bridge/state)"
    assert lines[2] == f"✓ gateway: {gateway.endpoint} answers (puppet version 1.19.4<1.20.2>)"
    assert lines[3:] == [
        "✓ token: the gateway accepts it",
        "✓ login: logged in as Bridge Bot (bot)",
        "✓ room family: 'Happy Family' (room-family@chatroom, 3 members)",
        "✓ room ops: 'Ops' (room-ops@chatroom, 2 members)",
    ]
    assert code == 0


def test_wrong_broker_port(tmp_path: Path, gateway: MockGateway) -> None:
    port = free_port()
    code, lines = doctor(doctor_config(tmp_path, broker_port=port, endpoint=gateway.endpoint, token=gateway.token))
    assert lines[1] == (
        f"✗ broker: cannot connect to 127.0.0.1:{port} (anonymous): connection refused: is the broker running and "
        "listening on that port? Fix: start the broker, or point mqtt.host and mqtt.port at the one that is running.")
    assert "✓ login: logged in as Bridge Bot (bot)" in lines  # the other links are still checked
    assert code == 1


def test_wrong_gateway_token(tmp_path: Path, broker: MosquittoBroker, gateway: MockGateway) -> None:
    code, lines = doctor(doctor_config(tmp_path, broker_port=broker.port, endpoint=gateway.endpoint,
                                       token="not-the-gateway-token"))
    assert lines[2:] == [
        f"✓ gateway: {gateway.endpoint} answers",
        "✗ token: the gateway refused the token (cannot read the gateway's version: the gateway refused the token) "
        "Fix: WECHATY_PUPPET_SERVICE_TOKEN (or wechaty.token) must equal the gateway's WECHATY_TOKEN.",
        "○ login: not checked: it needs a gateway that accepts the token",
        "○ rooms: not checked: it needs a gateway that accepts the token",
    ]
    assert code == 1


def test_gateway_down(tmp_path: Path, broker: MosquittoBroker) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    code, lines = doctor(doctor_config(tmp_path, broker_port=broker.port, endpoint=endpoint, token="t" * 16))
    assert len(lines) == 6
    assert lines[2].startswith(f"✗ gateway: cannot reach {endpoint}: ")
    assert lines[2].endswith(
        "Fix: start the gateway, or point wechaty.endpoint at it (its WECHATY_PUPPET_SERVER_HOST and _PORT); "
        "wechaty.tls is off, and must match whether the gateway serves TLS.")
    assert lines[3:] == [f"○ {link}: not checked: it needs a gateway that answers"
                         for link in ("token", "login", "rooms")]
    assert code == 1


def test_no_broker_and_no_gateway_still_shows_every_link(tmp_path: Path) -> None:
    """A newcomer's first run: nothing started yet. Every link gets its line, the skipped ones say why."""
    broker_port, endpoint = free_port(), f"127.0.0.1:{free_port()}"
    code, lines = doctor(doctor_config(tmp_path, broker_port=broker_port, endpoint=endpoint, token="t" * 16))
    assert [line.split(":", 1)[0] for line in lines] == [
        "✓ config", "✗ broker", "✗ gateway", "○ token", "○ login", "○ rooms"]
    assert code == 1


def test_unresolved_room(tmp_path: Path, broker: MosquittoBroker, gateway: MockGateway) -> None:
    rooms = ROOMS + "  garden: {topic: \"Happy family\"}\n"
    code, lines = doctor(doctor_config(tmp_path, broker_port=broker.port, endpoint=gateway.endpoint,
                                       token=gateway.token, rooms=rooms))
    assert lines[-1] == (
        "✗ room garden: the account is in no room named 'Happy family' Fix: the name must match the group's name "
        "exactly (case, spaces, emoji); or configure it by `id:`.")
    assert lines[-3].startswith("✓ room family:")
    assert code == 1


def test_beside_a_running_bridge_it_does_not_take_the_gateway(
        tmp_path: Path, broker: MosquittoBroker, gateway: MockGateway, start_bridge: BridgeFactory) -> None:
    start_bridge(ROOMS + "routes:\n  - {topic: doctor/in, rooms: [ops], template: '{{ payload.text }}'}\n",
                 base_topic="doctor-live", pacing=UNPACED)
    observer = TestClient(broker.host, broker.port, ["doctor-live/bridge/#"])
    observer.wait_for(lambda m: m.topic == "doctor-live/bridge/login" and m.json()["state"] == "logged_in",
                      what="the bridge's login")
    logins = len(observer.messages("doctor-live/bridge/login"))
    path = doctor_config(tmp_path, broker_port=broker.port, endpoint=gateway.endpoint, token=gateway.token,
                         base_topic="doctor-live")
    code, lines = doctor(path)
    assert lines[1] == f"✓ broker: connected to 127.0.0.1:{broker.port} (anonymous); a bridge is online on it " \
                       "(doctor-live/bridge/state)"
    assert lines[4] == (
        "✓ login: logged in as Bridge Bot (bot), as the running bridge reports (the gateway serves one client at a "
        "time and another one (the running bridge?) holds it; doctor did not take its place)")
    assert code == 0
    # The bridge kept its connection: no new login state, and it still delivers.
    gateway.clear()
    observer.publish("doctor/in", json.dumps({"text": "still here"}))
    sent = gateway.wait_for_messages(1)
    assert [(m["room_id"], m["text"]) for m in sent] == [("room-ops@chatroom", "still here")]
    assert len(observer.messages("doctor-live/bridge/login")) == logins
    observer.close()

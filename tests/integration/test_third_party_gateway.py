"""A third-party gateway end to end: the bridge through a gateway that behaves as wechat-skill
documents (tests/support/wechat_skill.py: port 18401, TLS off, text only, `@chatroom` ids, its own
token). Text is delivered; a route with an image is delivered as its text with the image's URL and
a `note`, never failed nor retried; `doctor` holds, with its one capability warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, BridgeFactory
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient
from tests.support.web import serving
from tests.support.wechat_skill import WECHAT_SKILL_TOKEN, start_wechat_skill

pytestmark = pytest.mark.integration

FAMILY = "20512345678@chatroom"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(300)


@pytest.fixture(scope="module")
def skill() -> Iterator[MockGateway]:
    gateway = start_wechat_skill()
    yield gateway
    gateway.stop()


@pytest.fixture
def web() -> Iterator[int]:
    with serving({"/snap.png": ("image/png", PNG)}) as port:
        yield port


def body(port: int) -> str:
    return f"""\
rooms:
  family: {{topic: "Happy Family"}}
routes:
  - name: door
    topic: "cam/door"
    rooms: [family]
    image: {{url: "http://127.0.0.1:{port}/snap.png"}}
    template: "Someone at the door ({{{{ payload.id }}}})"
"""


def report(listener: TestClient, event_id: str) -> dict[str, Any]:
    [found] = listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == event_id, timeout=30,
                                what=f"the report of {event_id}")
    found_report = dict(found.json())
    found_report.pop("ts")
    return found_report


def door_report(event_id: str, note: str) -> dict[str, Any]:
    return {"id": event_id, "status": "delivered", "route": "door", "topic": "cam/door",
            "room": {"key": "family", "id": FAMILY, "topic": "Happy Family"}, "error": None, "note": note}


def sent(skill: MockGateway) -> list[tuple[str | None, str | None, str | None]]:
    """What reached the gateway's WeChat: (type, room id, text), in order."""
    return [(m["type"], m["room_id"], m["text"]) for m in skill.messages()]


def test_text_goes_through_and_an_image_is_sent_as_its_url_with_a_note(
        start_bridge: BridgeFactory, skill: MockGateway, listener: TestClient, web: int) -> None:
    start_bridge(body(web), gateway_=skill, wechaty_extra="puppet: wechat-skill")
    skill.clear()
    listener.publish("wechat/send/family", json.dumps({"id": "hello-1", "text": "Dinner is ready"}))
    assert report(listener, "hello-1") == {
        "id": "hello-1", "status": "delivered", "route": None, "topic": "wechat/send/family",
        "room": {"key": "family", "id": FAMILY, "topic": "Happy Family"}, "error": None}
    listener.publish("cam/door", json.dumps({"id": "door-1"}))
    url = f"http://127.0.0.1:{web}/snap.png"
    assert report(listener, "door-1") == door_report("door-1", (
        "the image 'snap.png' was not sent: the wechat-skill gateway cannot send images or files; the text was "
        f"sent; its URL is in the text ({url})"))
    assert sent(skill) == [("text", FAMILY, "Dinner is ready"),
                           ("text", FAMILY, f"Someone at the door (door-1)\n{url}")]
    # Declared text only: the gateway was never asked for a file, and nothing is left to retry.
    assert not [e for e in skill.events if e.get("event") == "unimplemented"]
    assert [m.json()["id"] for m in listener.messages(DELIVERY)] == ["hello-1", "door-1"]


def test_an_undeclared_gateway_is_learned_from_unimplemented_once_per_connection(
        start_bridge: BridgeFactory, skill: MockGateway, listener: TestClient, web: int) -> None:
    bridge = start_bridge(body(web), gateway_=skill)  # `wechaty.puppet` unset: unknown, learned
    skill.clear()
    skill.events.clear()
    url = f"http://127.0.0.1:{web}/snap.png"
    listener.publish("cam/door", json.dumps({"id": "door-2"}))
    assert report(listener, "door-2") == door_report("door-2", (
        "the image 'snap.png' was not sent: the gateway answered UNIMPLEMENTED to a file send; the text was sent; "
        f"its URL is in the text ({url})"))
    listener.publish("cam/door", json.dumps({"id": "door-3"}))
    assert report(listener, "door-3") == door_report("door-3", (
        "the image 'snap.png' was not sent: the gateway cannot send images or files; the text was sent; its URL is "
        f"in the text ({url})"))
    assert sent(skill) == [("text", FAMILY, "Someone at the door (door-2)"), ("text", FAMILY, url),
                           ("text", FAMILY, f"Someone at the door (door-3)\n{url}")]
    assert [e["method"] for e in skill.events if e.get("event") == "unimplemented"] == ["messageSendFile"]
    assert "sending text only on this connection" in bridge.log()
    assert [m.json()["status"] for m in listener.messages(DELIVERY)] == ["delivered", "delivered"]


def test_doctor_holds_apart_from_its_capability_warning(tmp_path: Path, broker: MosquittoBroker,
                                                         skill: MockGateway) -> None:
    path = tmp_path / "skill.yaml"
    path.write_text(
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}, client_id: doctor-skill, base_topic: doctor-skill}}\n"
        f"wechaty: {{endpoint: '{skill.endpoint}', token: '{WECHAT_SKILL_TOKEN}', puppet: wechat-skill}}\n"
        + body(8))
    result = subprocess.run([sys.executable, "-m", "bridge", "doctor", "--config", str(path)], check=False,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"✓ config: {path} is valid (1 route, 1 room)",
        "! capabilities: route 'door' sends an image to room 'family', but the wechat-skill gateway cannot send "
        "images or files: the text goes alone, with a note in the report",
    ]
    assert lines[2].startswith(f"✓ broker: connected to 127.0.0.1:{broker.port} ")
    assert lines[3].startswith(f"✓ gateway: {skill.endpoint} answers ")
    assert lines[4:] == [
        "✓ token: the gateway accepts it",
        "✓ login: logged in as Skill Bot (wxid_skillbot)",
        f"✓ room family: 'Happy Family' ({FAMILY}, 3 members)",
    ]
    check = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(path)], check=False,
                           capture_output=True, text=True, timeout=60)
    assert (check.returncode, check.stdout) == (0, f"{path}: OK (1 route, 1 room)\n")
    assert check.stderr == (f"{path}: warning: route 'door' sends an image to room 'family', but the wechat-skill "
                            "gateway cannot send images or files: the text goes alone, with a note in the report\n")

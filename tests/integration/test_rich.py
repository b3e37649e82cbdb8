"""Images, files and mentions, through the real broker and SDK to the official mock gateway."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import BridgeFactory
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient
from tests.support.web import serving

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3000) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(500)


def config(directory: Path, url_port: int) -> str:
    return f"""\
attachments: {{directory: {directory}, max_bytes: 100000, download_timeout: 5s}}
contacts:
  alice: {{name: Alice}}
  bob: {{id: bob}}
  carol: {{name: Carol}}
rooms:
  family: {{topic: "Happy Family"}}
routes:
  - name: frigate
    topic: "frigate/{{camera}}/{{label}}/snapshot"
    rooms: [family]
    image: payload
    mention: [alice, bob]
    template: "📷 {{{{ label }}}} at the {{{{ camera }}}} camera"
  - name: url-image
    topic: "cam/url"
    rooms: [family]
    image: {{url: "http://127.0.0.1:{url_port}{{{{ payload.path }}}}"}}
    template: "Snapshot from {{{{ payload.path }}}}"
  - name: local-file
    topic: "reports/file"
    rooms: [family]
    file: {{path: "{{{{ payload.path }}}}"}}
  - name: carol
    topic: "test/carol"
    rooms: [family]
    mention: [carol]
    template: "Carol, please act"
"""


@pytest.fixture
def web() -> Iterator[int]:
    with serving({"/snap.png": ("image/png", PNG)}) as port:
        yield port


@pytest.fixture
def rich(start_bridge: BridgeFactory, gateway: MockGateway, tmp_path: Path, web: int) -> Path:
    files = tmp_path / "files"
    files.mkdir()
    start_bridge(config(files, web))
    gateway.clear()
    return files


def reports(listener: TestClient, count: int) -> list[dict[str, Any]]:
    return [m.json() for m in listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=count)]


def test_a_binary_snapshot_arrives_as_an_image_with_the_same_bytes_after_a_mentioning_text(
        rich: Path, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("frigate/front/person/snapshot", JPEG)
    [report] = reports(listener, 1)
    assert (report["status"], report["route"], report["error"]) == ("delivered", "frigate", None)
    text, image = gateway.messages()
    assert (text["type"], text["room_id"], text["text"], text["mention_ids"]) == (
        "text", "room-family@chatroom", "@Alice\u2005@Bob\u2005📷 person at the front camera", ["alice", "bob"])
    assert image["type"] == "file" and image["room_id"] == "room-family@chatroom"
    assert (image["file"]["name"], image["file"]["mime"]) == ("front-person-snapshot.jpg", "image/jpeg")
    assert base64.b64decode(image["file"]["base64"]) == JPEG


def test_an_image_url_is_downloaded_and_a_local_file_is_sent(
        rich: Path, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("cam/url", json.dumps({"path": "/snap.png", "id": "url-1"}))
    assert reports(listener, 1)[0]["status"] == "delivered"
    (rich / "report.pdf").write_bytes(b"%PDF-1.4 tiny")
    listener.publish("reports/file", json.dumps({"path": "report.pdf", "id": "file-1"}))
    assert reports(listener, 2)[1]["status"] == "delivered"
    text, image, document = gateway.messages()
    assert text["text"] == "Snapshot from /snap.png"
    assert (image["file"]["name"], base64.b64decode(image["file"]["base64"])) == ("snap.png", PNG)
    assert (document["file"]["name"], base64.b64decode(document["file"]["base64"])) == ("report.pdf", b"%PDF-1.4 tiny")


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        ("frigate/front/person/snapshot", b"not an image", "route 'frigate': the payload is not a JPEG, PNG, GIF "
                                                           "or WebP image"),
        ("frigate/front/person/snapshot", b"\xff\xd8\xff" + b"x" * 200_000,
         "route 'frigate': the image is 200003 bytes, more than the 100000 bytes allowed (attachments.max_bytes)"),
        ("reports/file", b'{"path": "../../etc/passwd"}', "'../../etc/passwd' is outside attachments.directory"),
        ("reports/file", b'{"path": "missing.pdf"}', "cannot read 'missing.pdf': No such file or directory"),
        ("test/carol", b"{}", "contact 'carol' (name 'Carol') is not a member of room 'family'"),
        ("wechat/send/family", b'{"text": "hi", "mention": ["dave"]}',
         "unknown contact key 'dave' in mention (known: alice, bob, carol)"),
    ],
)
def test_attachments_and_mentions_that_cannot_be_sent_are_rejected(
        rich: Path, gateway: MockGateway, listener: TestClient, topic: str, payload: bytes, error: str) -> None:
    listener.publish(topic, payload)
    [report] = reports(listener, 1)
    assert (report["status"], report["error"]) == ("rejected", error)
    assert gateway.messages() == []


def test_a_direct_send_can_mention(rich: Path, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("wechat/send/family", json.dumps({"text": "dinner!", "mention": ["alice"], "id": "m-1"}))
    assert reports(listener, 1)[0]["status"] == "delivered"
    [message] = gateway.messages()
    assert (message["text"], message["mention_ids"]) == ("@Alice\u2005dinner!", ["alice"])

"""Files over the gateway's 4 MiB message limit, through the real broker to the official gateway.

`attachments.max_bytes` defaults to 10 MiB; a gRPC message over 4 MiB is refused by the gateway
(RESOURCE_EXHAUSTED), so the bridge uploads large files in chunks first. They must arrive with
the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, FAMILY, BridgeFactory
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient
from tests.support.web import serving

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
IMAGE_9_MIB = b"\x89PNG\r\n\x1a\n" + os.urandom(9 * MIB - 8)
IMAGE_5_MIB = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(5 * MIB - 13) + b"\xff\xd9"


@pytest.fixture
def web() -> Iterator[int]:
    with serving({"/big.png": ("image/png", IMAGE_9_MIB), "/medium.jpg": ("image/jpeg", IMAGE_5_MIB)}) as port:
        yield port


def config(directory: Path, url_port: int) -> str:
    # attachments.max_bytes left at its default (10 MiB): the limit the README promises.
    return f"""\
attachments: {{directory: {directory}}}
rooms:
  family: {{topic: "Happy Family"}}
routes:
  - name: url-image
    topic: "cam/url"
    rooms: [family]
    image: {{url: "http://127.0.0.1:{url_port}{{{{ payload.path }}}}"}}
    template: "Snapshot {{{{ payload.path }}}}"
  - name: local-file
    topic: "reports/file"
    rooms: [family]
    file: {{path: "{{{{ payload.path }}}}"}}
"""


def report_of(listener: TestClient, event_id: str) -> dict[str, Any]:
    [found] = listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == event_id, timeout=60,
                                what=f"the report of {event_id}")
    return found.json()  # type: ignore[no-any-return]


def test_a_9_mib_url_image_and_a_5_mib_one_arrive_with_the_same_bytes(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path, web: int) -> None:
    start_bridge(config(tmp_path, web))
    gateway.clear()
    listener.publish("cam/url", json.dumps({"path": "/big.png", "id": "big-1"}))
    assert report_of(listener, "big-1")["status"] == "delivered"
    listener.publish("cam/url", json.dumps({"path": "/medium.jpg", "id": "medium-1"}))
    assert report_of(listener, "medium-1")["status"] == "delivered"
    text, big, text2, medium = gateway.messages()
    assert (text["text"], text2["text"]) == ("Snapshot /big.png", "Snapshot /medium.jpg")
    for record, name, data in ((big, "big.png", IMAGE_9_MIB), (medium, "medium.jpg", IMAGE_5_MIB)):
        assert (record["type"], record["room_id"], record["file"]["name"]) == ("file", FAMILY, name)
        received = base64.b64decode(record["file"]["base64"])
        assert (len(received), hashlib.sha256(received).hexdigest()) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_large_local_file_arrives_with_the_same_bytes(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path, web: int) -> None:
    data = os.urandom(6 * MIB)
    (tmp_path / "backup.tar").write_bytes(data)
    start_bridge(config(tmp_path, web))
    gateway.clear()
    listener.publish("reports/file", json.dumps({"path": "backup.tar", "id": "file-1"}))
    assert report_of(listener, "file-1")["status"] == "delivered"
    [record] = gateway.messages()
    assert (record["type"], record["file"]["name"]) == ("file", "backup.tar")
    assert base64.b64decode(record["file"]["base64"]) == data

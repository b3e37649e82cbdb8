"""The HTTP door over real sockets: old Flask callers, /send/<key>, auth and bad requests, and schemathesis."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EMPTY_QUEUE, BridgeFactory
from tests.support.broker import free_port
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

TOKEN = "http-door-token-0123456789"


def config(port: int) -> str:
    return f"""\
http: {{enabled: true, port: {port}, token: {TOKEN}, max_body_bytes: 4096}}
rooms:
  family: {{topic: "Happy Family"}}
  ops: {{id: "room-ops@chatroom", allow_direct: false}}
"""


def call(port: int, method: str, path: str, body: bytes | dict[str, Any] | None = None, *,
         token: str | None = TOKEN, content_type: str = "application/json") -> tuple[int, Any]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def door(start_bridge: BridgeFactory, gateway: MockGateway) -> int:
    port = free_port()
    start_bridge(config(port))
    gateway.clear()
    return port


def report_for(listener: TestClient, event_id: str) -> dict[str, Any]:
    [found] = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery" and m.json()["id"] == event_id,
                                what=f"report for {event_id}")
    report: dict[str, Any] = found.json()
    return report


def test_the_old_flask_format_still_delivers_and_reports(door: int, gateway: MockGateway, listener: TestClient) -> None:
    status, body = call(door, "POST", "/sendmessage", {"room": "Happy Family", "message": "From the old service"})
    assert status == 202 and body["status"] == "queued"
    report = report_for(listener, body["id"])
    assert (report["status"], report["topic"], report["room"]["id"]) == (
        "delivered", "/sendmessage", "room-family@chatroom")
    status, body = call(door, "POST", "/sendmessage", {"room": "family", "message": "By key too", "id": "f-2"})
    assert (status, body) == (202, {"id": "f-2", "status": "queued"})
    report_for(listener, "f-2")
    assert [(m["room_id"], m["text"]) for m in gateway.messages()] == [
        ("room-family@chatroom", "From the old service"), ("room-family@chatroom", "By key too")]


def test_send_to_a_key_takes_text_or_json(door: int, gateway: MockGateway, listener: TestClient) -> None:
    status, body = call(door, "POST", "/send/family", b"plain text body", content_type="text/plain")
    assert status == 202
    assert report_for(listener, body["id"])["topic"] == "/send/family"
    assert call(door, "POST", "/send/family", {"text": "json body", "id": "h-1"}) == (
        202, {"id": "h-1", "status": "queued"})
    report_for(listener, "h-1")
    assert [m["text"] for m in gateway.messages()] == ["plain text body", "json body"]


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "expected"),
    [
        ("POST", "/sendmessage", {"room": "family", "message": "x"}, None, (401, "missing or wrong bearer token")),
        ("POST", "/send/family", {"text": "x"}, "wrong-token", (401, "missing or wrong bearer token")),
        ("POST", "/sendmessage", b"{not json", TOKEN, (400, None)),
        ("POST", "/sendmessage", {"room": "family"}, TOKEN,
         (400, 'the body needs "room" (a room key or room name) and "message", both strings')),
        ("POST", "/sendmessage", {"room": "Nowhere", "message": "x"}, TOKEN,
         (404, "unknown room key 'Nowhere' (known: family, ops)")),
        ("POST", "/send/ops", {"text": "x"}, TOKEN,
         (403, "room 'ops' does not take direct sends (allow_direct: false)")),
        ("POST", "/send/family", {"message": "x"}, TOKEN,
         (400, 'a JSON direct send needs a "text" field holding a string')),
        ("POST", "/send/family", b"x" * 5000, TOKEN,
         (413, "the request body is larger than 4096 bytes (http.max_body_bytes)")),
        ("GET", "/nothing-here", None, TOKEN, (404, "Not Found")),
        ("GET", "/sendmessage", None, TOKEN, (405, "Method Not Allowed")),
    ],
)
def test_bad_requests_get_a_4xx_with_a_clear_body(
        door: int, gateway: MockGateway, method: str, path: str, body: Any, token: str | None,
        expected: tuple[int, str | None]) -> None:
    status, answer = call(door, method, path, body, token=token)
    assert status == expected[0], answer
    if expected[1] is None:
        assert answer["error"].startswith("the body is not valid JSON")
    else:
        assert answer["error"] == expected[1]
    assert gateway.messages() == []


def test_healthz_mirrors_health_check_without_a_token(door: int) -> None:
    assert call(door, "GET", "/healthz", token=None) == (200, {
        "healthy": True, "broker": {"connected": True},
        "wechat": {"state": "logged_in", "reason": None, "user": "Bridge Bot"}, "queue": EMPTY_QUEUE})


def test_the_api_matches_its_openapi_document(door: int, tmp_path: Path) -> None:
    """schemathesis generates requests from /openapi.json and checks every answer against it."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", f"http://127.0.0.1:{door}/openapi.json",
         "--header", f"Authorization: Bearer {TOKEN}", "--checks", "all", "--max-examples", "30",
         "--seed", "1", "--generation-database", "none", "--no-color"],
        capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

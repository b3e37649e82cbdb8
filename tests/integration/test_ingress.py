"""The status page behind Home Assistant's ingress: trusted from the Supervisor's address, under its prefix.

The real bridge on the host, asked over HTTP as the Supervisor's proxy asks it: with `X-Ingress-Path`
from an address in `http.ingress_from`. From there the page needs no login and every link, form and
script address carries the prefix; from any other address the header is ignored and the token is
still needed. (tests/containers/test_app.py shows the same page in Chromium through a proxy.)
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_status_page import Setup, body, page_setup
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker, free_port
from tests.support.fake_ilink import FakeIlink
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PREFIX = "/api/hassio_ingress/b3V0LW9mLXRoZS1ib3g"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def addresses(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]+)"', html)


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker) -> Iterator[Setup]:
    """A bridge that takes this machine (127.0.0.1) for the Supervisor."""
    with page_setup(tmp_path_factory.mktemp("ingress"), broker, base_topic="ingress",
                    body=lambda port: body(port).replace("http: {", "http: {ingress_from: [127.0.0.1], ")) as found:
        yield found


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker) -> Iterator[Setup]:
    """A bridge whose Supervisor is at another address (192.0.2.1, a documentation address)."""
    with page_setup(tmp_path_factory.mktemp("ingress-elsewhere"), broker, base_topic="ingress2",
                    body=lambda port: body(port).replace("http: {", "http: {ingress_from: [192.0.2.1], ")) as found:
        yield found


def test_through_ingress_the_page_opens_without_login_and_links_under_the_prefix(trusted: Setup) -> None:
    status, headers, html = get(trusted.base + "/", {"X-Ingress-Path": PREFIX + "/"})
    assert status == 200 and 'id="login-form"' not in html and 'id="live"' in html
    assert f'<meta name="base-path" content="{PREFIX}">' in html
    assert addresses(html) and all(a.startswith(PREFIX + "/") for a in addresses(html)), addresses(html)
    assert "/page/logout" not in html  # no session of ours to end inside Home Assistant
    # Home Assistant shows it in a frame of its own origin; no other site may.
    assert headers["X-Frame-Options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in headers["Content-Security-Policy"]


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match is not None
    return match.group(1)


def post(url: str, body: dict[str, str], csrf: str) -> int:
    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(), headers={
        "X-Ingress-Path": PREFIX, "Content-Type": "application/json", "X-CSRF-Token": csrf})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_through_ingress_a_test_send_needs_the_pages_csrf_token(trusted: Setup) -> None:
    _, _, html = get(trusted.base + "/", {"X-Ingress-Path": PREFIX})
    send = {"room": "family", "text": "through ingress"}
    assert post(trusted.base + "/page/send", send, "forged") == 403
    assert post(trusted.base + "/page/send", send, csrf_of(html)) == 202
    assert any(m["text"] == "through ingress" for m in trusted.gateway.wait_for_messages(1))


def test_a_prefix_that_is_not_a_plain_path_is_not_echoed(trusted: Setup) -> None:
    _, _, html = get(trusted.base + "/", {"X-Ingress-Path": '/x"><b id="injected">'})
    assert "injected" not in html and all(a.startswith("/page/") for a in addresses(html))


def test_from_any_other_address_the_token_is_still_needed(elsewhere: Setup, tmp_path: Path) -> None:
    status, headers, html = get(elsewhere.base + "/", {"X-Ingress-Path": PREFIX})
    assert status == 200 and 'id="login-form"' in html
    assert PREFIX not in html and 'action="/page/login"' in html
    assert headers["X-Frame-Options"] == "DENY"
    status, _, _ = get(elsewhere.base + "/page/events", {"X-Ingress-Path": PREFIX})
    assert status == 401


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker) -> Iterator[tuple[str, FakeIlink]]:
    """A bridge with only the official bot (the fake iLink server), behind ingress from this machine."""
    tmp = tmp_path_factory.mktemp("ingress-ilink")
    port = free_port()
    with FakeIlink(poll_hold=1.0, qr_hold=0.5) as fake:
        config = tmp / "config.yaml"
        config.write_text(
            f"mqtt: {{host: 127.0.0.1, port: {broker.port}, client_id: ingress-ilink, base_topic: ingress3}}\n"
            f"ilink: {{base_url: '{fake.base_url}', credentials: '{tmp / 'ilink'}'}}\n"
            f"outbox: {{path: '{tmp / 'outbox.sqlite3'}'}}\n"
            f"http: {{enabled: true, port: {port}, token: ingress-ilink-token-0123456789, ingress_from: [127.0.0.1]}}\n"
            "rooms:\n  me: {ilink: alice}\n")
        bridge = BridgeProcess(config, env={}).start(wait_ready=True)
        try:
            yield f"http://127.0.0.1:{port}", fake
        finally:
            bridge.stop()


def test_through_ingress_the_official_bot_section_starts_a_qr_login(official: tuple[str, FakeIlink]) -> None:
    base, fake = official
    status, _, html = get(base + "/", {"X-Ingress-Path": PREFIX})
    assert status == 200 and 'id="ilink-alice"' in html and 'id="ilink-login-form"' in html
    assert all(a.startswith(PREFIX + "/") for a in addresses(html)), addresses(html)
    assert post(base + "/page/ilink/login", {"name": "alice"}, "forged") == 403
    assert fake.logins == []
    assert post(base + "/page/ilink/login", {"name": "alice"}, csrf_of(html)) == 202
    wait_for(lambda: fake.logins, timeout=10, what="the bridge asking iLink for a QR code")
    wait_for(lambda: 'id="ilink-qr-alice"' in get(base + "/", {"X-Ingress-Path": PREFIX})[2], timeout=10,
             what="the QR code on the page")
    assert post(base + "/page/ilink/verify", {"name": "alice", "code": "1"}, csrf_of(html)) == 409  # none asked

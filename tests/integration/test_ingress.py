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
from tests.support.broker import MosquittoBroker

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


def test_through_ingress_a_test_send_needs_the_pages_csrf_token(trusted: Setup) -> None:
    _, _, html = get(trusted.base + "/", {"X-Ingress-Path": PREFIX})
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match is not None

    def send(csrf: str) -> int:
        request = urllib.request.Request(trusted.base + "/page/send", method="POST", data=json.dumps(
            {"room": "family", "text": "through ingress"}).encode(), headers={
            "X-Ingress-Path": PREFIX, "Content-Type": "application/json", "X-CSRF-Token": csrf})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert send("forged") == 403
    assert send(match.group(1)) == 202
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

"""GET /metrics after a known sequence, read by prometheus_client's own parser; and the page's HTTP-level locks."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, WORLD, BridgeFactory, publish, reports
from tests.support.broker import free_port
from tests.support.gateway import MockGateway
from tests.support.metrics import get, samples
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

TOKEN = "metrics-door-token-0123456789"
SCRAPER = "scraper-only-token-0123456789"


def config(port: int) -> str:
    return f"""\
http: {{enabled: true, port: {port}, token: {TOKEN}, metrics_token: {SCRAPER}}}
rooms:
  family: {{topic: "Happy Family"}}
  ops: {{id: "room-ops@chatroom", allow_direct: false}}
routes:
  - name: alerts
    topic: "alerts/#"
    rooms: [family]
    template: "{{{{ payload.text }}}}"
"""


@pytest.fixture
def own_gateway() -> Iterator[MockGateway]:
    gw = MockGateway().start(WORLD)
    yield gw
    gw.stop()


def test_metrics_count_deliveries_rejections_and_logouts(
        start_bridge: BridgeFactory, own_gateway: MockGateway, listener: TestClient) -> None:
    port = free_port()
    start_bridge(config(port), gateway_=own_gateway)
    ids = publish(listener, "alerts/kitchen", ["Smoke in the kitchen", "Kitchen clear"])
    listener.publish("wechat/send/ops", json.dumps({"text": "not here", "id": "m-rejected"}))
    found = reports(listener, [*ids, "m-rejected"])
    assert [found[i]["status"] for i in (*ids, "m-rejected")] == ["delivered", "delivered", "rejected"]
    own_gateway.logout()
    listener.wait_for(lambda m: m.topic == "wechat/bridge/event" and m.json()["type"] == "logout", what="logout")
    own_gateway.login()
    listener.wait_for(lambda m: m.topic == "wechat/bridge/event" and m.json()["type"] == "login", count=2,
                      what="the login at start and the login again")

    assert get(port, "/metrics")[0] == 401
    assert get(port, "/metrics", "wrong-token-0123456789")[0] == 401
    assert get(port, "/metrics", TOKEN)[0] == 200  # the token that sends may scrape too
    status, text, headers = get(port, "/metrics", SCRAPER)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    got = samples(text)
    assert got[("wechat_bridge_deliveries_total", (("room", "family"), ("route", "alerts"),
                                                   ("status", "delivered")))] == 2
    assert got[("wechat_bridge_deliveries_total", (("room", "ops"), ("route", ""), ("status", "rejected")))] == 1
    assert sum(v for (name, labels), v in got.items()
               if name == "wechat_bridge_deliveries_total" and ("status", "delivered") in labels) == 2
    assert got[("wechat_bridge_events_rejected_total", (("reason", "direct_not_allowed"),))] == 1
    assert got[("wechat_bridge_events_received_total", (("route", "alerts"),))] == 2
    assert got[("wechat_bridge_wechat_logouts_total", ())] == 1
    assert got[("wechat_bridge_wechat_sends_total", (("result", "ok"),))] == 2
    assert got[("wechat_bridge_wechat_send_duration_seconds_count", ())] == 2
    assert got[("wechat_bridge_wechat_login_state", (("state", "logged_in"),))] == 1
    assert got[("wechat_bridge_wechat_login_state", (("state", "logged_out"),))] == 0
    assert got[("wechat_bridge_broker_connected", ())] == 1
    assert got[("wechat_bridge_gateway_connected", ())] == 1
    assert got[("wechat_bridge_queue_depth", ())] == 0
    assert got[("wechat_bridge_queue_in_doubt", ())] == 0
    assert got[("wechat_bridge_digests_sent_total", ())] == 0


def _opener() -> urllib.request.OpenerDirector:
    """A browser-like client: keeps cookies, shows redirects instead of following them."""
    jar = CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def _post(opener: urllib.request.OpenerDirector, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers, method="POST"), timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def test_the_page_sets_a_strict_cookie_a_csp_and_refuses_actions_without_the_csrf_token(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    port = free_port()
    start_bridge(config(port))
    gateway.clear()
    base = f"http://127.0.0.1:{port}"
    status, page, headers = get(port, "/")
    assert status == 200 and 'name="token"' in page  # the login form, not the page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    form = urllib.parse.urlencode({"token": TOKEN}).encode()
    opener = _opener()
    status, answer = _post(opener, base + "/page/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    cookie = answer["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    _, behind_tls = _post(_opener(), base + "/page/login", form, {
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"})
    assert "Secure" in behind_tls["Set-Cookie"]
    with opener.open(base + "/", timeout=10) as response:
        html = response.read().decode()
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match is not None
    body = json.dumps({"room": "family", "text": "forged"}).encode()
    for headers_ in ({"Content-Type": "application/json"},
                     {"Content-Type": "application/json", "X-CSRF-Token": "0" * 43}):
        assert _post(opener, base + "/page/send", body, headers_)[0] == 403
    assert _post(_opener(), base + "/page/send", body, {  # no session at all
        "Content-Type": "application/json", "X-CSRF-Token": match.group(1)})[0] == 401
    status, _ = _post(opener, base + "/page/send", json.dumps({"room": "family", "text": "with the token"}).encode(),
                      {"Content-Type": "application/json", "X-CSRF-Token": match.group(1)})
    assert status == 202
    listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["topic"] == "/page/send", what="the report")
    assert [m["text"] for m in gateway.messages()] == ["with the token"]


def test_no_asset_of_the_page_names_an_outside_address(start_bridge: BridgeFactory) -> None:
    port = free_port()
    start_bridge(config(port))
    opener = _opener()
    _post(opener, f"http://127.0.0.1:{port}/page/login", urllib.parse.urlencode({"token": TOKEN}).encode(),
          {"Content-Type": "application/x-www-form-urlencoded"})
    served = []
    for path in ("/", "/page/static/page.js", "/page/static/page.css"):
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            served.append(response.read().decode())
    assert 'id="rooms"' in served[0]  # the page itself, logged in
    for text in served:
        assert not re.findall(r"(?:https?:)?//[\w-]+(?:\.[\w-]+)+", text)
        assert "@import" not in text and "url(" not in text

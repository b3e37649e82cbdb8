"""WeChat refusing a puppet's web login (wechat4u since 2025-01-09) is named, not just `logged_out`.

The mock puppet is made to do what wechat4u does then: report batchGetContact's assertion and log
out right after the login. `bridge/login` must say what happened and what to do instead, and the
gateway's log must say it once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import WORLD, BridgeFactory
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

LOGIN = "wechat/bridge/login"
SENTENCE = ("WeChat refused the puppet's web login, as it has for web/UOS logins since January 2025: use the "
            "official bot (rooms with `ilink:`) or another gateway; see README.md, \"Getting WeChat online\"")
def logged_out_after(listener: TestClient, action: object) -> dict[str, object]:
    """Do `action`, then the first `logged_out` on bridge/login published after it (not a retained one)."""
    before = listener.messages(LOGIN)
    assert callable(action)
    action()
    found = listener.wait_for(lambda m: m.topic == LOGIN and m.json()["state"] == "logged_out"
                              and all(m is not b for b in before), what="logged out")
    return dict(found[0].json())


ROOMS = """\
rooms:
  ops: {id: "room-ops@chatroom"}
routes: []
"""


@pytest.fixture
def own_gateway() -> Iterator[MockGateway]:
    gw = MockGateway().start(WORLD)
    yield gw
    gw.stop()


def test_a_logout_with_wechat4us_assertion_names_the_refused_web_login(
        start_bridge: BridgeFactory, own_gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROOMS, gateway_=own_gateway)
    own_gateway.emit_error("AssertionError [ERR_ASSERTION]: 1101 == 0")
    state = logged_out_after(listener, own_gateway.logout)
    assert state == {"state": "logged_out", "reason": SENTENCE}
    lines = own_gateway.stderr_lines()
    assert sum(SENTENCE in line for line in lines) == 1, lines[-10:]


def test_a_logout_within_a_minute_of_the_login_is_named_too(
        start_bridge: BridgeFactory, own_gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROOMS, gateway_=own_gateway)
    # The mock logged in when it started, seconds ago.
    assert logged_out_after(listener, own_gateway.logout)["reason"] == SENTENCE
    own_gateway.login()
    listener.wait_json(LOGIN, lambda s: s["state"] == "logged_in", count=2, what="logged in again")
    assert logged_out_after(listener, own_gateway.logout)["reason"] == SENTENCE
    # Said once per gateway process, however often it happens.
    assert sum(SENTENCE in line for line in own_gateway.stderr_lines()) == 1

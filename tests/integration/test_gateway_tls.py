"""TLS between the bridge and the gateway, against the official PuppetServer (gateway/gateway.mjs).

Real mosquitto, real gateway with TLS on (its built-in certificate, or one of ours from a test
CA), the bridge as `python -m bridge run`. A working TLS link delivers the exact text to the exact
room; a TLS mismatch (wrong CA, plaintext against TLS and the reverse) is a reason on
`<base>/bridge/login` that names the problem, one log line per retry with growing delays (here
the log line is the requirement), and never a crash; an event accepted meanwhile waits and is
delivered once the bridge trusts the right CA.

Each test uses a base topic of its own, so retained login states of earlier tests on the shared
broker cannot answer for it.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import OPS, WORLD, BridgeFactory
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.certs import Pki, make_pki
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import Received, TestClient

pytestmark = pytest.mark.integration

ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
routes:
  - name: alarm
    topic: "tls/{run}/alarm"
    rooms: [ops]
    template: "Alarm over TLS: {{ payload.text }}"
"""
#: The reason on bridge/login, and in each retry line, for each mismatch.
UNTRUSTED = ("cannot reach the gateway: the gateway's TLS certificate is not trusted: not signed by the CA of "
             "wechaty.tls (or the system's), or not issued for this name (wechaty.tls.server_name)")
PLAIN_TO_TLS = ("cannot reach the gateway: the gateway closed the connection at once, as a gateway that speaks "
                "TLS does to plaintext: set wechaty.tls?")
TLS_TO_PLAIN = ("cannot reach the gateway: the gateway does not speak TLS (TLS handshake failed): remove "
                "wechaty.tls, or turn TLS on there")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("gateway-pki"), "gateway")


@pytest.fixture(scope="module")
def builtin_tls_gateway() -> Iterator[MockGateway]:
    """TLS on with PuppetServer's built-in certificate (server name "insecure"); a token without
    the `insecure_` prefix, since the bridge names the server itself."""
    gw = MockGateway().start(WORLD, env={"WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER": "false"})
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def own_cert_gateway(pki: Pki) -> Iterator[MockGateway]:
    """TLS on with a certificate of ours (SAN 127.0.0.1), given as files, as Docker secrets are."""
    gw = MockGateway().start(WORLD, env={"WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT_FILE": str(pki.cert_file),
                                         "WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY_FILE": str(pki.key_file)})
    yield gw
    gw.stop()


class Observer:
    """What a user sees under one base topic of its own: the bridge's topics, and a producer."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.run = uuid.uuid4().hex[:8]
        self.base = f"tls-{self.run}"
        self.client = TestClient(broker.host, broker.port, [f"{self.base}/bridge/#"])

    def logins(self) -> list[dict[str, Any]]:
        return [m.json() for m in self.client.messages(f"{self.base}/bridge/login")]

    def wait_login(self, predicate: Any, *, timeout: float = 20.0, what: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.wait_json(f"{self.base}/bridge/login", predicate, timeout=timeout,
                                                      what=what)
        return found

    def wait_online(self) -> None:
        """The bridge is connected to the broker and subscribed to its routes (it says so after subscribing)."""
        topic = f"{self.base}/bridge/state"
        self.client.wait_for(lambda m: m.topic == topic and m.json() == {"state": "online"}, what="bridge online")

    def publish(self, text: str) -> str:
        event_id = f"{self.run}-{uuid.uuid4().hex[:6]}"
        self.client.publish(f"tls/{self.run}/alarm", json.dumps({"id": event_id, "text": text}))
        return event_id

    def reports(self, event_id: str) -> list[dict[str, Any]]:
        return [m.json() for m in self.client.messages(f"{self.base}/bridge/delivery") if m.json()["id"] == event_id]

    def report(self, event_id: str, timeout: float = 20.0) -> dict[str, Any]:
        topic = f"{self.base}/bridge/delivery"

        def mine(m: Received) -> bool:
            return m.topic == topic and m.json()["id"] == event_id
        [found] = self.client.wait_for(mine, timeout=timeout, what=f"the report of {event_id}")
        report: dict[str, Any] = found.json()
        report.pop("ts")
        return report

    def delivered(self, event_id: str) -> dict[str, Any]:
        return {"id": event_id, "status": "delivered", "route": "alarm", "topic": f"tls/{self.run}/alarm",
                "room": {"key": "ops", "id": OPS, "topic": "Ops"}, "error": None}

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def observer(broker: MosquittoBroker) -> Iterator[Observer]:
    obs = Observer(broker)
    yield obs
    obs.close()


def start(start_bridge: BridgeFactory, obs: Observer, gw: MockGateway, tls: str | None, **kw: Any) -> BridgeProcess:
    return start_bridge(ROUTES.replace("{run}", obs.run), base_topic=obs.base, gateway_=gw,
                        wechaty_extra=f"tls: {tls}" if tls else "", **kw)


def sent(gw: MockGateway, text: str) -> list[tuple[str, str]]:
    """Every send of `text` the gateway recorded, as (room id, text)."""
    return [(m["room_id"], m["text"]) for m in gw.messages() if m["text"] == text]


def retry_delays(bridge: BridgeProcess, gw: MockGateway, reason: str) -> list[float]:
    """The delay announced by each retry line that gives `reason`."""
    line = re.escape(f"WeChat gateway at {gw.endpoint}: {reason}; reconnecting in ") + r"([\d.]+) s"
    return [float(d) for d in re.findall(line, bridge.log())]


def wait_retries(bridge: BridgeProcess, obs: Observer, gw: MockGateway, reason: str, count: int,
                 timeout: float = 20.0) -> list[float]:
    """The announced delays once the bridge has given up `count` times with `reason` (0.5 s, then 1 s, 2 s, ...).

    Each attempt that fails publishes `logged_out` with the reason, then logs the retry line and
    sleeps: so once `count + 1` of them are on the broker, `count` lines are surely in the log.
    """
    obs.client.wait_json(f"{obs.base}/bridge/login", lambda s: s == {"state": "logged_out", "reason": reason},
                         count=count + 1, timeout=timeout, what=f"{count + 1} failed attempts ({reason})")
    return retry_delays(bridge, gw, reason)


def assert_backoff_without_crash(bridge: BridgeProcess, delays: list[float]) -> None:
    # 0.5 s, 1 s, 2 s, ... capped at 30 s: growing, a handful of lines, not a crash loop.
    assert len(delays) >= 2, delays
    assert all(later > earlier for earlier, later in itertools.pairwise(delays)), delays
    assert bridge.running, "the bridge must keep retrying, never exit"
    assert "Traceback" not in bridge.log()


# ---------------------------------------------------------------- TLS that works


def test_tls_with_the_built_in_certificate_delivers(
        start_bridge: BridgeFactory, observer: Observer, builtin_tls_gateway: MockGateway) -> None:
    start(start_bridge, observer, builtin_tls_gateway, "{wechaty_ca: true}")
    assert observer.wait_login(lambda s: s["state"] == "logged_in", what="logged in") == {
        "state": "logged_in", "user": {"id": "bot", "name": "Bridge Bot"}}
    event_id = observer.publish(f"door open {observer.run}")
    assert observer.report(event_id) == observer.delivered(event_id)
    assert sent(builtin_tls_gateway, f"Alarm over TLS: door open {observer.run}") == [
        (OPS, f"Alarm over TLS: door open {observer.run}")]


def test_tls_with_a_certificate_from_our_own_ca_delivers(
        start_bridge: BridgeFactory, observer: Observer, own_cert_gateway: MockGateway, pki: Pki) -> None:
    start(start_bridge, observer, own_cert_gateway, f"{{ca_file: {pki.ca_file}}}")
    assert observer.wait_login(lambda s: s["state"] == "logged_in", what="logged in") == {
        "state": "logged_in", "user": {"id": "bot", "name": "Bridge Bot"}}
    event_id = observer.publish(f"smoke {observer.run}")
    assert observer.report(event_id) == observer.delivered(event_id)
    assert sent(own_cert_gateway, f"Alarm over TLS: smoke {observer.run}") == [
        (OPS, f"Alarm over TLS: smoke {observer.run}")]


# ---------------------------------------------------------------- TLS that does not


def test_a_wrong_ca_is_a_clear_reason_with_backoff_and_the_event_waits_for_the_right_one(
        start_bridge: BridgeFactory, observer: Observer, own_cert_gateway: MockGateway, pki: Pki,
        tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other-pki", "other")
    outbox, client_id = tmp_path / "outbox.sqlite3", f"bridge-tls-{observer.run}"
    bridge = start(start_bridge, observer, own_cert_gateway, f"{{ca_file: {other.ca_file}}}", wait_ready=False,
                   outbox=outbox, client_id=client_id)
    refused = observer.wait_login(lambda s: s.get("reason") == UNTRUSTED, what="the untrusted-certificate reason")
    assert refused["state"] in ("logged_out", "connecting"), refused
    observer.wait_online()
    event_id = observer.publish(f"while untrusted {observer.run}")

    delays = wait_retries(bridge, observer, own_cert_gateway, UNTRUSTED, 3)
    assert_backoff_without_crash(bridge, delays)
    assert observer.reports(event_id) == [], "the event must wait for the gateway, not end"
    assert {s["state"] for s in observer.logins()} <= {"connecting", "logged_out"}
    assert sent(own_cert_gateway, f"Alarm over TLS: while untrusted {observer.run}") == []

    # The same bridge (outbox, MQTT session), now trusting the CA that signed the gateway's certificate.
    assert bridge.stop() == 0
    start(start_bridge, observer, own_cert_gateway, f"{{ca_file: {pki.ca_file}}}", outbox=outbox, client_id=client_id)
    assert observer.report(event_id) == observer.delivered(event_id)
    assert sent(own_cert_gateway, f"Alarm over TLS: while untrusted {observer.run}") == [
        (OPS, f"Alarm over TLS: while untrusted {observer.run}")]


def test_a_plaintext_bridge_against_a_tls_gateway_says_so_and_keeps_trying(
        start_bridge: BridgeFactory, observer: Observer, builtin_tls_gateway: MockGateway) -> None:
    bridge = start(start_bridge, observer, builtin_tls_gateway, None, wait_ready=False)
    refused = observer.wait_login(lambda s: s.get("reason") == PLAIN_TO_TLS, what="the plaintext-to-TLS reason")
    assert refused["state"] in ("logged_out", "connecting"), refused
    assert_backoff_without_crash(bridge, wait_retries(bridge, observer, builtin_tls_gateway, PLAIN_TO_TLS, 2))


def test_a_tls_bridge_against_a_plaintext_gateway_says_so_and_keeps_trying(
        start_bridge: BridgeFactory, observer: Observer, gateway: MockGateway) -> None:
    bridge = start(start_bridge, observer, gateway, "{wechaty_ca: true}", wait_ready=False)
    refused = observer.wait_login(lambda s: s.get("reason") == TLS_TO_PLAIN, what="the TLS-to-plaintext reason")
    assert refused["state"] in ("logged_out", "connecting"), refused
    assert_backoff_without_crash(bridge, wait_retries(bridge, observer, gateway, TLS_TO_PLAIN, 2))



def test_a_plaintext_gateway_that_stops_is_not_called_a_tls_mismatch(
        start_bridge: BridgeFactory, observer: Observer) -> None:
    """A gateway that is stopped (or restarted) closes the socket just as a TLS gateway closes it to a
    plaintext client; once it has answered, the reason must not send the user to change wechaty.tls."""
    gw = MockGateway().start(WORLD)
    try:
        start(start_bridge, observer, gw, None)
        observer.wait_login(lambda s: s["state"] == "logged_in", what="logged in")
        gw.stop()
        assert observer.wait_login(lambda s: s["state"] == "logged_out", what="logged out") == {
            "state": "logged_out", "reason": "the gateway ended the connection"}
        gw.restart()
        observer.client.wait_for(lambda m: m.topic == f"{observer.base}/bridge/login" and m.json()["state"] ==
                                 "logged_in", count=2, what="logged in again after the restart")
        assert not [s for s in observer.logins() if "TLS" in (s.get("reason") or "")], observer.logins()
    finally:
        gw.stop()

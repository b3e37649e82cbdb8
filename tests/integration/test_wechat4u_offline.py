"""The production gateway with the default puppet (wechat4u) and no internet, with the bridge in front.

There is no internet on these machines, so wechat4u cannot reach WeChat (`getaddrinfo ENOTFOUND
login.wx.qq.com`): what a user whose gateway has no network sees. The gateway must stay up; the
bridge must say on `<base>/bridge/login`, within 60 s, that WeChat cannot be reached, keep
answering requests with that reason, hold its one connection to the gateway (no reconnect
loop), and keep an event published meanwhile waiting rather than failing it.

wechat4u repeats its error a few times a second while offline; the bridge's log must say it once,
not flood: that log line is a requirement here, so it is asserted.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import BridgeFactory
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker, free_port
from tests.support.gateway import GatewayProcess
from tests.support.metrics import get, samples
from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

TOKEN = "wechat4u-offline-token-0123"
HTTP_TOKEN = "wechat4u-offline-http-0123456789"
ROOT = Path(__file__).resolve().parents[2]
#: What the bridge says, on bridge/login and in health_check, when the puppet cannot reach WeChat
#: (ENOTFOUND without DNS, EAI_AGAIN where a resolver is configured but unreachable).
REASON = re.compile(r"the gateway cannot reach WeChat's servers "
                    r"\(getaddrinfo (ENOTFOUND|EAI_AGAIN) login\.wx\.qq\.com\): "
                    r"check the internet connection and DNS of the machine the gateway runs on")
#: How long the window must last in which the bridge is watched for a reconnect loop: past
#: wechat4u's next round of retries (every 5 s).
WINDOW_SECONDS = 4.0


@dataclass(frozen=True)
class Endpoint:
    """What start_bridge needs of a gateway: where it listens and its token."""

    endpoint: str
    token: str


@pytest.fixture
def wechat4u_gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    data = tmp_path / "gateway-data"
    data.mkdir()
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER": "true",
                         "WECHATY_DATA": str(data)})  # no WECHATY_PUPPET: wechat4u is the default
    yield gw
    gw.close()


def warning_line(reason: str) -> str:
    return f"WARNING bridge.wechat.client: WeChat gateway reports: {reason}"


def scrape(port: int) -> dict[str, float]:
    """`GET /metrics`: the value of each sample without labels, by name."""
    status, text, _ = get(port, "/metrics", HTTP_TOKEN)
    assert status == 200, text
    return {name: value for (name, labels), value in samples(text).items() if not labels}


def wait_for_puppet_errors_after(bridge: BridgeProcess, port: int, seconds: float, timeout: float) -> dict[str, float]:
    """Block until the puppet has reported its error again after a window of `seconds`: it went on
    retrying, and the bridge, still on its one connection, went on hearing it. The metrics then."""
    window_ends = time.monotonic() + seconds
    at_window_end: list[float] = []

    def again() -> dict[str, float] | None:
        assert bridge.running, bridge.log()[-3000:]
        got = scrape(port)
        if time.monotonic() < window_ends:
            return None
        if not at_window_end:
            at_window_end.append(got["wechat_bridge_puppet_errors_total"])
            return None
        return got if got["wechat_bridge_puppet_errors_total"] > at_window_end[0] else None

    return wait_for(again, timeout=timeout, interval=0.2, what=f"the puppet's error again after {seconds} s",
                    detail=lambda: bridge.log()[-3000:])


def health(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "health", "--config", str(config)], check=False,
                          capture_output=True, text=True, timeout=30, cwd=ROOT,
                          env={**os.environ, "WECHATY_PUPPET_SERVICE_TOKEN": TOKEN})


def collapsed(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The login states without consecutive repeats (each broker reconnect publishes the current one again)."""
    return [state for state, _ in itertools.groupby(states)]


@pytest.mark.timeout(150)
def test_wechat4u_without_internet_is_a_reason_on_bridge_login_not_a_crash_or_a_hang(
        start_bridge: BridgeFactory, broker: MosquittoBroker, wechat4u_gateway: GatewayProcess) -> None:
    gw = wechat4u_gateway
    run = uuid.uuid4().hex[:8]
    base = f"w4u-{run}"
    observer = TestClient(broker.host, broker.port, [f"{base}/bridge/#"])
    try:
        gw.wait_listening()
        http_port = free_port()
        bridge = start_bridge(
            f"http: {{enabled: true, port: {http_port}, token: {HTTP_TOKEN}}}\n"
            f'rooms:\n  family: {{topic: "Happy Family"}}\nroutes:\n  - {{name: door, topic: "w4u/{run}/door", '
            f'rooms: [family], template: "Door {{{{ payload.state }}}}"}}\n',
            base_topic=base, wait_ready=False, gateway_=Endpoint(f"127.0.0.1:{gw.port}", TOKEN))
        started = time.monotonic()
        login = f"{base}/bridge/login"

        # Within 60 s: the reason, in words, on bridge/login.
        [found, *_] = observer.wait_for(lambda m: m.topic == login and REASON.fullmatch(m.json().get("reason") or ""),
                                        timeout=60, what="the cannot-reach-WeChat reason on bridge/login")
        reason = found.json()["reason"]
        assert found.json() == {"state": "connecting", "reason": reason}
        assert time.monotonic() - started < 60

        # An event published meanwhile is accepted and waits for the login.
        observer.wait_for(lambda m: m.topic == f"{base}/bridge/state" and m.json() == {"state": "online"},
                          what="the bridge online on MQTT")
        observer.publish(f"w4u/{run}/door", json.dumps({"id": f"door-{run}", "state": "open"}))

        # The bridge answers health_check, with the reason; `bridge health` says it in one line.
        observer.publish(f"{base}/bridge/request/health_check", json.dumps({"transaction": run}))
        [answer] = observer.wait_for(lambda m: m.topic == f"{base}/bridge/response/health_check",
                                     what="the health_check response")
        data = answer.json()["data"]
        assert (data["healthy"], data["broker"], data["wechat"]) == (
            False, {"connected": True}, {"state": "connecting", "reason": reason, "user": None})
        assert data["queue"]["depth"] == 1 and set(data["queue"]["finished"].values()) == {0}, data["queue"]
        result = health(bridge.config_path)
        assert (result.returncode, result.stdout) == (
            1, f"unhealthy: WeChat connecting ({reason}), broker connected, 1 queued\n")

        # The puppet goes on retrying; the bridge stays on its one connection, saying it once.
        metrics = wait_for_puppet_errors_after(bridge, http_port, WINDOW_SECONDS, timeout=30)
        assert (metrics["wechat_bridge_gateway_connected"], metrics["wechat_bridge_gateway_reconnects_total"]) == (
            1, 0), "reconnected"
        log = bridge.log()
        assert log.count("bridge.wechat.client: WeChat: connecting to the gateway at ") == 1, "reconnected"
        assert "reconnecting in" not in log and "Traceback" not in log
        assert log.count(warning_line(reason)) == 1, "the puppet's error must be logged once, not once per event"
        assert collapsed([m.json() for m in observer.messages(login)]) == [
            {"state": "connecting", "reason": f"connecting to the gateway at 127.0.0.1:{gw.port}"},
            {"state": "connecting", "reason": "connected to the gateway; waiting for WeChat to log in or show a QR "
                                              "code"},
            {"state": "connecting", "reason": reason},
        ]
        assert len(observer.messages(login)) <= 5
        assert observer.messages(f"{base}/bridge/delivery") == [], "the event must wait, not end"
        assert bridge.running

        # The gateway stayed up, said why once, and stops cleanly.
        assert gw.proc.poll() is None, "the gateway died"
        assert "the puppet cannot reach WeChat: getaddrinfo ENOTFOUND login.wx.qq.com" in gw.messages()
        assert not [m for m in gw.messages() if "unexpected error" in m]
        assert gw.stop() == 0
    finally:
        observer.close()

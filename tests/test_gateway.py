"""The production gateway (gateway/gateway.mjs) as users run it: no test controls loaded.

Real processes throughout: the gateway on a free port, and wechaty's own puppet-service client
(tests/gateway/probe.mjs) where a client is needed.  Here the log line IS the requirement (which
puppet, TLS on or off, why the puppet cannot reach WeChat, the one-sentence configuration error),
so these tests assert on stderr lines; they wait for them as events, never with sleeps.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.certs import make_pki
from tests.support.gateway import (
    DEFAULT_TOKEN,
    GATEWAY_DIR,
    GATEWAY_SCRIPT,
    ROOT,
    GatewayProcess,
    MockGateway,
    ensure_installed,
    gateway_env,
)
from tests.support.waiting import wait_for

NODE = shutil.which("node") or "node"
PROBE = ROOT / "tests" / "gateway" / "probe.mjs"
TOKEN = "0123456789abcdef-token"
#: What wechat4u says when there is no DNS/network: no internet on these machines.
OFFLINE = re.compile(r"the puppet cannot reach WeChat: getaddrinfo (ENOTFOUND|EAI_AGAIN) login\.wx\.qq\.com$")


Procs = list[GatewayProcess]


@pytest.fixture
def gateways() -> Iterator[Procs]:
    started: list[GatewayProcess] = []
    yield started
    for gw in started:
        gw.close()


def probe(port: int, tmp_path: Path, env: dict[str, str] | None = None, wait: str = "login",
          timeout_ms: int = 20000) -> subprocess.Popen[str]:
    """wechaty's puppet-service client against the gateway on `port`; read its JSON lines from stdout."""
    home = tmp_path / "probe-home"  # PuppetService keeps a payload cache under $HOME/.wechaty
    home.mkdir(exist_ok=True)
    base = {"HOME": str(home), "WECHATY_LOG": "warn", "WECHATY_PUPPET_SERVICE_ENDPOINT": f"127.0.0.1:{port}",
            "WECHATY_PUPPET_SERVICE_TOKEN": TOKEN, "PROBE_WAIT": wait, "PROBE_TIMEOUT_MS": str(timeout_ms)}
    return subprocess.Popen([NODE, str(PROBE)], env=gateway_env({**base, **(env or {})}), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8")


def probe_lines(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, _ = proc.communicate(timeout=60)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


PLAIN_CLIENT = {"WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT": "true"}
NO_TLS = {"WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER": "true"}
DEMO_WORLD = {
    "user": {"id": "bot", "name": "Bridge Bot"},
    "rooms": [
        {"id": "room-family@chatroom", "topic": "Happy Family", "member_ids": ["bot", "alice", "bob"]},
        {"id": "room-ops@chatroom", "topic": "Ops", "member_ids": ["bot", "bob"]},
    ],
    "contacts": [{"id": "bot", "name": "Bridge Bot"}, {"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
}


# ---------------------------------------------------------------- bad configuration


@pytest.mark.parametrize(("env", "sentence"), [
    ({}, "WECHATY_TOKEN is not set: set it to a random string of 16 or more characters, the same one the bridge "
         "uses as WECHATY_PUPPET_SERVICE_TOKEN."),
    ({"WECHATY_TOKEN": "short"}, "WECHATY_TOKEN is 5 characters long: use a random string of 16 or more characters "
                                 "(or one starting with insecure_ if you mean it)."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-wechaty"},
     "WECHATY_PUPPET=wechaty-puppet-wechaty is not a puppet this gateway ships; use one of wechaty-puppet-wechat4u, "
     "wechaty-puppet-padlocal, wechaty-puppet-xp, wechaty-puppet-mock."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVER_PORT": "80000"},
     "WECHATY_PUPPET_SERVER_PORT=80000 is not a TCP port: use a number from 1 to 65535 (default 8788)."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVER_PORT": "http"},
     "WECHATY_PUPPET_SERVER_PORT=http is not a TCP port: use a number from 1 to 65535 (default 8788)."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVER_HOST": "127.0.0.1:8788"},
     "WECHATY_PUPPET_SERVER_HOST=127.0.0.1:8788 is not a host name or address: give one without a port, "
     "such as 127.0.0.1 or 0.0.0.0."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT_FILE": "/nonexistent/cert.pem",
      "WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY_FILE": "/nonexistent/key.pem"},
     "WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT_FILE=/nonexistent/cert.pem cannot be read (ENOENT): give the path of "
     "a PEM file the gateway may read."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT": "not a certificate",
      "WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY": "-----BEGIN PRIVATE KEY-----"},
     "WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT does not hold PEM text: it must contain a -----BEGIN ...----- block."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER": "yes"},
     "WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=yes must be true (TLS off) or false (TLS on)."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-padlocal"},
     "wechaty-puppet-padlocal needs its own token: set WECHATY_PUPPET_PADLOCAL_TOKEN."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_LOG": "loud"},
     "WECHATY_LOG=loud is not a log level: use one of silent, error, warn, info, verbose, silly."),
    ({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET_MOCK_WORLD": "/nonexistent/world.json"},
     "WECHATY_PUPPET_MOCK_WORLD is set but WECHATY_PUPPET=wechaty-puppet-wechat4u: the world file is only for "
     "wechaty-puppet-mock."),
])
def test_bad_configuration_exits_with_one_sentence(env: dict[str, str], sentence: str, tmp_path: Path) -> None:
    ensure_installed()
    result = subprocess.run([NODE, str(GATEWAY_SCRIPT)], cwd=GATEWAY_DIR, capture_output=True, text=True, timeout=60,
                            env=gateway_env({"WECHATY_DATA": str(tmp_path / "data"), **env}), check=False)
    assert (result.returncode, result.stderr) == (2, f"gateway: {sentence}\n")


def test_the_xp_puppet_says_where_it_runs(tmp_path: Path) -> None:
    if (GATEWAY_DIR / "node_modules" / "wechaty-puppet-xp").is_dir():
        pytest.skip("wechaty-puppet-xp is installed here (Windows)")
    result = subprocess.run([NODE, str(GATEWAY_SCRIPT)], cwd=GATEWAY_DIR, capture_output=True, text=True, timeout=60,
                            env=gateway_env({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-xp",
                                             "WECHATY_DATA": str(tmp_path)}), check=False)
    assert (result.returncode, result.stderr) == (2, (
        "gateway: wechaty-puppet-xp is not installed here: it runs only on Windows with WeChat 3.9 installed, "
        "where `npm ci` in gateway/ installs it.\n"))


def test_a_port_in_use_exits_with_a_sentence(gateways: Procs, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-mock", **NO_TLS,
                      "WECHATY_PUPPET_SERVER_PORT": str(port), "WECHATY_DATA": str(tmp_path)})
        gateways.append(gw)
        assert gw.proc.wait(timeout=30) == 1
    gw.close()
    assert gw.lines[-1].startswith(f"gateway: cannot listen on 127.0.0.1:{port}: ")


# ---------------------------------------------------------------- wechat4u without internet


def test_wechat4u_without_internet_stays_up_and_says_why(gateways: Procs, tmp_path: Path) -> None:
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, **NO_TLS, "WECHATY_DATA": str(tmp_path)})  # wechat4u is the default
    gateways.append(gw)
    assert gw.wait_for(r"^puppet: ").startswith("puppet: wechaty-puppet-wechat4u 1.14.14")
    assert gw.wait_for(r"^listening on ") == f"listening on 127.0.0.1:{gw.port} (wechaty puppet-service 1.19.9)"
    reason = gw.wait_for(OFFLINE)
    # A client still connects, and gets the puppet's error events with the reason.
    client = probe(gw.port, tmp_path, PLAIN_CLIENT, wait="error")
    lines = probe_lines(client)
    assert lines[0] == {"started": True}
    assert "ENOTFOUND login.wx.qq.com" in json.loads(lines[1]["error_event"])["details"] or \
        "EAI_AGAIN login.wx.qq.com" in json.loads(lines[1]["error_event"])["details"]
    assert gw.proc.poll() is None, "the gateway died"
    # wechat4u retries a dozen times every 5 s: the reason is one line, not a flood.
    assert gw.messages().count(reason) == 1
    assert not [m for m in gw.messages() if "unexpected error" in m]
    assert gw.stop() == 0


def test_a_client_stop_call_does_not_stop_a_real_puppet(gateways: Procs, tmp_path: Path) -> None:
    """wechat4u's stop() would log the account out and forget the session: a client's Stop is ignored."""
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, **NO_TLS, "WECHATY_DATA": str(tmp_path)})
    gateways.append(gw)
    gw.wait_listening()
    assert probe_lines(probe(gw.port, tmp_path, PLAIN_CLIENT, wait="stop")) == [{"started": True}, {"stopped": True}]
    assert gw.wait_for(r"^a client asked") == (
        "a client asked to stop the puppet: ignored, the gateway keeps the account online")
    # The gateway goes on serving, and the puppet goes on reporting why it cannot reach WeChat.
    lines = probe_lines(probe(gw.port, tmp_path, PLAIN_CLIENT, wait="error"))
    assert "login.wx.qq.com" in json.loads(lines[1]["error_event"])["details"]
    assert gw.stop() == 0


# ---------------------------------------------------------------- the demo world, no controls


def test_the_mock_puppet_serves_the_demo_world_logged_in(gateways: Procs, tmp_path: Path) -> None:
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-mock", **NO_TLS,
                  "WECHATY_DATA": str(tmp_path)})
    gateways.append(gw)
    assert gw.wait_for(r"^logged in as ") == "logged in as Bridge Bot (bot)"
    lines = probe_lines(probe(gw.port, tmp_path, PLAIN_CLIENT))
    assert lines == [{"started": True}, DEMO_WORLD]
    tls_line = ("TLS off (WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER=true): the token and messages cross the "
                "network in clear text, so keep this port on a private network")
    assert tls_line in gw.messages()
    assert gw.stop() == 0
    assert gw.messages()[-1] == "SIGTERM: stopping"


def test_a_wrong_token_is_refused(gateways: Procs, tmp_path: Path) -> None:
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-mock", **NO_TLS,
                  "WECHATY_DATA": str(tmp_path)})
    gateways.append(gw)
    gw.wait_listening()
    wrong = {**PLAIN_CLIENT, "WECHATY_PUPPET_SERVICE_TOKEN": "wrong-token-0123456"}
    lines = probe_lines(probe(gw.port, tmp_path, wrong, timeout_ms=8000))
    assert "started" not in lines[0]
    assert "UNAUTHENTICATED" in lines[-1]["error"] or "Invalid Wechaty TOKEN" in lines[-1]["error"]


# ---------------------------------------------------------------- TLS


def test_tls_on_with_the_built_in_certificate(gateways: Procs, tmp_path: Path) -> None:
    token = "insecure_0123456789"  # the built-in certificate is for the server name "insecure"
    gw = GatewayProcess({"WECHATY_TOKEN": token, "WECHATY_PUPPET": "wechaty-puppet-mock",
                         "WECHATY_DATA": str(tmp_path)})
    gateways.append(gw)
    assert gw.wait_for(r"^TLS ").startswith('TLS on, with wechaty\'s built-in certificate (server name "insecure"')
    assert probe_lines(probe(gw.port, tmp_path, {"WECHATY_PUPPET_SERVICE_TOKEN": token})) == [
        {"started": True}, DEMO_WORLD]
    refused = probe_lines(probe(gw.port, tmp_path, {**PLAIN_CLIENT, "WECHATY_PUPPET_SERVICE_TOKEN": token},
                                timeout_ms=5000))
    assert "started" not in refused[0] and "error" in refused[-1]  # a plain-text client gets nowhere


@pytest.mark.parametrize("form", ["file", "text"])
def test_tls_on_with_a_given_certificate(form: str, gateways: Procs, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    if form == "file":
        tls = {"WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT_FILE": str(pki.cert_file),
               "WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY_FILE": str(pki.key_file)}
        source = (f"WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT_FILE={pki.cert_file} and "
                  f"WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY_FILE={pki.key_file}")
    else:
        tls = {"WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT": pki.cert_file.read_text(),
               "WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY": pki.key_file.read_text()}
        source = "WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT and WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY"
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-mock", "WECHATY_DATA": str(tmp_path),
                  **tls})
    gateways.append(gw)
    assert gw.wait_for(r"^TLS ") == f"TLS on, with the certificate from {source}"
    client = {"WECHATY_PUPPET_SERVICE_TLS_CA_CERT": pki.ca_file.read_text(),
              "WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME": "localhost"}
    assert probe_lines(probe(gw.port, tmp_path, client)) == [{"started": True}, DEMO_WORLD]
    # wechaty's built-in CA does not vouch for this certificate.
    untrusted = probe_lines(probe(gw.port, tmp_path, {"WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME": "localhost"},
                                  timeout_ms=5000))
    assert "started" not in untrusted[0] and "error" in untrusted[-1]


def test_mock_gateway_harness_takes_tls_env(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    gw = MockGateway().start(env={"WECHATY_PUPPET_SERVICE_TLS_SERVER_CERT_FILE": str(pki.cert_file),
                                  "WECHATY_PUPPET_SERVICE_TLS_SERVER_KEY_FILE": str(pki.key_file)})
    try:
        client = {"WECHATY_PUPPET_SERVICE_TLS_CA_CERT": pki.ca_file.read_text(),
                  "WECHATY_PUPPET_SERVICE_TLS_SERVER_NAME": "localhost",
                  "WECHATY_PUPPET_SERVICE_TOKEN": DEFAULT_TOKEN}
        lines = probe_lines(probe(gw.port or 0, tmp_path, client))
        assert lines[0] == {"started": True}
        assert [r["topic"] for r in lines[1]["rooms"]] == ["Happy Family", "Work"]
    finally:
        gw.stop()


# ---------------------------------------------------------------- errors reach clients


def test_a_puppet_error_is_logged_and_reaches_the_client(tmp_path: Path) -> None:
    gw = MockGateway().start()
    try:
        client = probe(gw.port or 0, tmp_path, {**PLAIN_CLIENT, "WECHATY_PUPPET_SERVICE_TOKEN": DEFAULT_TOKEN},
                       wait="error")
        assert client.stdout is not None
        assert json.loads(client.stdout.readline()) == {"started": True}
        gw.emit_error("getaddrinfo ENOTFOUND login.wx.qq.com")
        lines = probe_lines(client)
        assert json.loads(lines[0]["error_event"])["details"].startswith("Error: getaddrinfo ENOTFOUND login.wx.qq.com")
        assert gw.status()["logged_in"] is True  # the gateway goes on serving
        assert any(line.endswith("gateway: the puppet cannot reach WeChat: getaddrinfo ENOTFOUND login.wx.qq.com")
                   for line in gw.stderr_lines())
    finally:
        gw.stop()


# ---------------------------------------------------------------- the memory card


def last_login(card: Path, newer_than: str = "") -> dict[str, Any]:
    """The login the gateway saved on its memory card, once there is one later than `newer_than`."""
    def saved() -> dict[str, Any] | None:
        try:
            login = json.loads(card.read_text()).get("gateway-last-login")
        except (OSError, ValueError):  # not there yet, or caught half-written
            return None
        return login if login and login["at"] > newer_than else None

    return wait_for(saved, timeout=30, what=f"a login saved on {card} after {newer_than or 'none'}")


def test_the_memory_card_is_written_to_wechaty_data_and_read_back(gateways: Procs, tmp_path: Path) -> None:
    env = {"WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-mock", **NO_TLS, "WECHATY_DATA": str(tmp_path)}
    card = tmp_path / "gateway.memory-card.json"
    first = GatewayProcess(env)
    gateways.append(first)
    assert first.wait_for(r"^session: ") == f"session: {card} holds no saved puppet session"
    saved = last_login(card)
    assert first.stop() == 0
    assert (saved["id"], saved["name"]) == ("bot", "Bridge Bot")

    second = GatewayProcess({**env, "WECHATY_PUPPET_SERVER_PORT": str(first.port)})
    gateways.append(second)
    assert second.wait_for(r"^session: ") == (
        f"session: {card} holds no saved puppet session; last logged in as Bridge Bot (bot) at {saved['at']}")
    last_login(card, newer_than=saved["at"])
    assert not [m for m in second.messages() if m.startswith("scan")]
    assert second.stop() == 0


def test_wechat4u_resumes_a_saved_session_instead_of_asking_for_a_scan(
        gateways: Procs, tmp_path: Path) -> None:
    """The card holds a wechat4u session (as wechat4u saves it at login): wechat4u resumes it
    (webwxinit on the saved server) instead of fetching a new QR code from login.wx.qq.com."""
    card = tmp_path / "gateway.memory-card.json"
    session = {"PROP": {"uin": "12345", "sid": "sid", "skey": "@skey", "passTicket": "ticket"}, "COOKIE": {},
               "user": {"UserName": "@bot", "NickName": "Saved Bot"}}
    card.write_text(json.dumps({"\rpuppet\nPUPPET-WECHAT4U": session}))
    gw = GatewayProcess({"WECHATY_TOKEN": TOKEN, **NO_TLS, "WECHATY_DATA": str(tmp_path)})
    gateways.append(gw)
    assert gw.wait_for(r"^session: ") == (
        f"session: {card} holds a saved puppet session, which the puppet will try to resume without a scan")
    assert gw.wait_for(r"resuming") == (
        "the puppet cannot reach WeChat: network error while resuming the saved session, one more try in 60 s "
        "(重启时网络错误\N{FULLWIDTH COMMA}60s后进行最后一次重启)")  # wechat4u's own words
    assert not [m for m in gw.messages() if OFFLINE.search(m) or m.startswith("scan")]
    assert gw.stop() == 0
    # Stopping did not log the account out: the saved session is still there for the next start.
    assert json.loads(card.read_text())["\rpuppet\nPUPPET-WECHAT4U"]["PROP"]["uin"] == "12345"

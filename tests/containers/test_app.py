"""The Home Assistant App, built and started as the Supervisor would: options, services API, ingress.

A fake Supervisor (tests/containers/supervisor.py) gives the App the test broker's address and a
user and password that broker requires, and proxies the sidebar page. The App runs on the host's
network, so it reaches the broker, the mock gateway and the fake Supervisor on 127.0.0.1 as an App
reaches them on the Supervisor's network; the proxy's requests leave from 127.0.0.2, the address
the App is told to trust (INGRESS_FROM), and any other caller is a stranger.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testcontainers.core.container import DockerContainer

from tests.containers.conftest import Images
from tests.containers.podman import health, inspect_image, podman
from tests.containers.supervisor import INGRESS_PATH, FakeSupervisor
from tests.support.broker import MosquittoBroker, free_port
from tests.support.browser import chromium_path, skip_reason
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for

WORLD: dict[str, Any] = {
    "user": {"id": "bot", "name": "Bridge Bot"},
    "contacts": [{"id": "alice", "name": "Alice"}],
    "rooms": [{"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice"]},
              {"id": "room-ops@chatroom", "topic": "Ops", "members": ["alice"]}],
}
MQTT_USER, MQTT_PASSWORD = "addons", "mosquitto-app-password-42"
SUPERVISOR_TOKEN = "supervisor-token-" + uuid.uuid4().hex
TIMEZONE = "Asia/Shanghai"
#: The Supervisor's address as the App sees it (a loopback alias: nothing leaves this machine).
PROXY_ADDRESS = "127.0.0.2"
BASE_TOPIC = "home/wechat"


def options(gateway: MockGateway, **changes: Any) -> dict[str, Any]:
    """/data/options.json as the Supervisor writes it from the App's Configuration tab."""
    return {"gateway_endpoint": gateway.endpoint, "gateway_token": gateway.token, "base_topic": BASE_TOPIC,
            "discovery": True, "ready_made_mappings": ["scripts"], "locale": "en", "log_level": "info", **changes}


def app_container(image: str, supervisor: FakeSupervisor, data: Path, config: Path,
                  ingress_port: int) -> DockerContainer:
    return (DockerContainer(image)
            .with_kwargs(network_mode="host")
            .with_env("SUPERVISOR_TOKEN", SUPERVISOR_TOKEN)
            .with_env("SUPERVISOR_URL", supervisor.url)
            .with_env("INGRESS_FROM", PROXY_ADDRESS)
            .with_env("INGRESS_PORT", str(ingress_port))
            .with_volume_mapping(str(data), "/data", "rw")
            .with_volume_mapping(str(config), "/config", "rw"))


@dataclass
class RunningApp:
    container: DockerContainer
    supervisor: FakeSupervisor
    gateway: MockGateway
    listener: TestClient
    data: Path
    config: Path
    ingress_port: int


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """The Mosquitto App's broker: no anonymous clients, one user the Supervisor hands out."""
    passwords = tmp_path_factory.mktemp("broker") / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), MQTT_USER, MQTT_PASSWORD], check=True)
    server = MosquittoBroker(allow_anonymous=False, extra_config=f"password_file {passwords}").start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def app(images: Images, broker: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    gateway = MockGateway().start(WORLD)
    ingress_port = free_port()
    supervisor = FakeSupervisor(token=SUPERVISOR_TOKEN, timezone=TIMEZONE, app_port=ingress_port,
                                source=PROXY_ADDRESS,
                                mqtt={"host": "127.0.0.1", "port": broker.port, "ssl": False, "protocol": "3.1.1",
                                      "username": MQTT_USER, "password": MQTT_PASSWORD}).start()
    data, config = tmp_path_factory.mktemp("app-data"), tmp_path_factory.mktemp("app-config")
    (data / "options.json").write_text(json.dumps(options(gateway)))
    # The user's own rooms, in the App's config folder.
    (config / "rooms.yaml").write_text('rooms:\n  family: {topic: "Happy Family"}\n  ops: {topic: "Ops"}\n')
    listener = TestClient(broker.host, broker.port, [f"{BASE_TOPIC}/bridge/#"], username=MQTT_USER,
                          password=MQTT_PASSWORD)
    container = app_container(images.app, supervisor, data, config, ingress_port)
    container.start()
    try:
        # Ready when it has resolved its rooms after logging in: it publishes the list then, live.
        def ready() -> bool:
            assert_running(container)
            return any(m.topic == f"{BASE_TOPIC}/bridge/rooms" and not m.retain for m in listener.messages())
        wait_for(ready, timeout=60, what="the App publishing its rooms", detail=lambda: _logs(container))
        yield RunningApp(container, supervisor, gateway, listener, data, config, ingress_port)
    finally:
        container.stop()
        listener.close()
        supervisor.stop()
        gateway.stop()


def assert_running(container: DockerContainer) -> None:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    if wrapped.status == "exited":
        raise AssertionError(f"the App exited:\n{_logs(container)}")


def _logs(container: DockerContainer) -> str:
    out, err = container.get_logs()
    return (out + err).decode(errors="replace")[-4000:]


def test_the_app_connects_with_the_supervisors_credentials_and_delivers(app: RunningApp) -> None:
    assert app.supervisor.calls["/services/mqtt"] == 1 and app.supervisor.calls["/info"] == 1
    event_id = uuid.uuid4().hex[:8]
    app.listener.publish(f"{BASE_TOPIC}/send/family", json.dumps({"id": event_id, "text": "Hello from the App"}))
    report = app.listener.wait_for(lambda m: m.topic == f"{BASE_TOPIC}/bridge/delivery" and m.json()["id"] == event_id,
                                   timeout=30)[0].json()
    assert report["status"] == "delivered", report
    sent = app.gateway.wait_for_messages(1)
    assert [(m["room_topic"], m["text"]) for m in sent] == [("Happy Family", "Hello from the App")]
    # The outbox and the page's token are kept in /data; the config folder keeps the user's file.
    assert (app.data / "outbox.sqlite3").is_file() and (app.data / "http_token").is_file()
    assert sorted(p.name for p in app.config.iterdir()) == ["rooms.yaml"]


def test_the_app_runs_in_the_supervisors_time_zone_as_root_and_is_healthy(app: RunningApp, images: Images) -> None:
    environ = podman("exec", app.container.get_wrapped_container().id, "cat", "/proc/1/environ").stdout
    assert f"TZ={TIMEZONE}" in environ.split("\0")
    assert inspect_image(images.app)["Config"]["User"] == "root"
    assert health(app.container.get_wrapped_container().id) == 0


def test_a_stranger_still_needs_the_token(app: RunningApp) -> None:
    """A request from any address but the Supervisor's gets the login form, its header ignored."""
    request = urllib.request.Request(f"http://127.0.0.1:{app.ingress_port}/", headers={"X-Ingress-Path": "/evil"})
    with urllib.request.urlopen(request, timeout=10) as response:
        page = response.read().decode()
    assert 'id="login-form"' in page and 'action="/page/login"' in page and "/evil" not in page


@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_the_sidebar_page_renders_under_the_ingress_prefix(app: RunningApp) -> None:
    from playwright.sync_api import expect, sync_playwright

    entry = app.supervisor.url + INGRESS_PATH
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url))
            page.goto(entry + "/")
            # No login form: Home Assistant has logged its user in. The live stream runs through the proxy.
            expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=15_000)
            expect(page.locator("#login-state")).to_have_text("logged in")
            expect(page.locator("#configured-rooms tr[data-key=family]")).to_contain_text("Happy Family")
            assert page.locator("#login-form").count() == 0 and page.locator("form[action$=logout]").count() == 0
            assert page.locator("link[rel=stylesheet]").get_attribute("href") == INGRESS_PATH + "/page/static/page.css"
            # A test send from the page goes through ingress too (a POST with the CSRF token).
            page.fill("#send-text", "Sent from the sidebar")
            page.click("#send-form button[type=submit]")
            expect(page.locator("#send-result")).to_contain_text("queued as")
            assert any(m["text"] == "Sent from the sidebar" for m in app.gateway.wait_for_messages(2))
        finally:
            browser.close()
    assert asked and all(url.startswith(entry + "/") for url in asked), asked


def test_a_bad_option_stops_the_app_with_one_clear_line(images: Images, tmp_path: Path) -> None:
    gateway_less = {"gateway_endpoint": "my-gateway", "gateway_token": "x" * 20, "base_topic": "wechat",
                    "discovery": True, "ready_made_mappings": [], "locale": "en", "log_level": "info"}
    data, config = tmp_path / "data", tmp_path / "config"
    data.mkdir()
    config.mkdir()
    (data / "options.json").write_text(json.dumps(gateway_less))
    supervisor = FakeSupervisor(token=SUPERVISOR_TOKEN, timezone=TIMEZONE, app_port=free_port(),
                                source=PROXY_ADDRESS, mqtt={}).start()
    container = app_container(images.app, supervisor, data, config, free_port())
    container.start()
    try:
        exit_code = container.get_wrapped_container().wait(timeout=60)["StatusCode"]
        out, err = container.get_logs()
        lines = (out + err).decode().splitlines()
    finally:
        container.stop()
        supervisor.stop()
    # Exit 0: a stop, not a crash the Supervisor or the user would restart into the same error.
    assert exit_code == 0
    assert lines == ["wechat-mqtt-bridge: bad option: gateway_endpoint 'my-gateway' is not host:port "
                     "(for example 192.168.1.20:8788). Change it on the App's Configuration tab, then start "
                     "the App again."]

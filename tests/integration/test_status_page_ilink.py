"""The status page's official bot section in real headless chromium: the real bridge and broker, the fake
iLink server (tests/support/fake_ilink.py) and no gateway at all.

What a person sees: a block per person the rooms name (bound or not) with the state, window, budget,
what waits and why, as `<base>/bridge/ilink/<name>` says; a QR login started from the page, its
code drawn on the page, "scanned", the number the phone shows typed into the page, and the person
logged in, all without a reload.
"""

from __future__ import annotations

import base64
import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker, free_port
from tests.support.browser import chromium_path, skip_reason
from tests.support.fake_ilink import FakeIlink
from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

if skip_reason() is None:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

TOKEN = "status-page-ilink-token-0123456789"
#: A live update, or a login step travelling fake -> bridge (a QR status long poll) -> page.
LIVE_MS = 8000
ALICE, BOB, CAROL = "alice@im.wechat", "bob@im.wechat", "carol@im.wechat"


class Setup:
    def __init__(self, base: str, fake: FakeIlink, bridge: BridgeProcess, credentials: Path) -> None:
        self.base, self.fake, self.bridge, self.credentials = base, fake, bridge, credentials


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("status-page-ilink")
    port = free_port()
    with FakeIlink(poll_hold=1.0, qr_hold=0.5) as fake:
        config = tmp / "config.yaml"
        config.write_text(textwrap.dedent(f"""\
            mqtt: {{host: 127.0.0.1, port: {broker.port}, client_id: page-ilink-{uuid.uuid4().hex[:6]},
                   base_topic: wechat}}
            ilink: {{base_url: '{fake.base_url}', cdn_base_url: '{fake.cdn_base_url}',
                    credentials: '{tmp / "ilink"}'}}
            outbox: {{path: '{tmp / "outbox.sqlite3"}'}}
            http: {{enabled: true, port: {port}, token: {TOKEN}}}
            pacing: {{enabled: false}}
            rooms:
              me: {{ilink: alice, listen: true}}
              grandpa: {{ilink: bob}}
            """))
        bridge = BridgeProcess(config, env={}).start(wait_ready=True)
        try:
            yield Setup(f"http://127.0.0.1:{port}", fake, bridge, tmp / "ilink")
        finally:
            bridge.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        yield playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                         args=["--no-sandbox", "--disable-dev-shm-usage"])


@pytest.fixture
def page(browser: Browser, setup: Setup) -> Iterator[Page]:
    context = browser.new_context()
    outside: list[str] = []

    def only_the_bridge(route: object) -> None:
        request_url = route.request.url  # type: ignore[attr-defined]
        if request_url.startswith(setup.base + "/"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(request_url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", only_the_bridge)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.goto(setup.base + "/")
    tab.get_by_label("HTTP token").fill(TOKEN)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.locator("#live")).to_have_text("live")
    tab.evaluate("window.notReloaded = true")
    yield tab
    assert tab.evaluate("window.notReloaded") is True, "the page reloaded"
    context.close()
    assert outside == [], "the page asked for something outside the bridge"


@pytest.fixture
def watcher(broker: MosquittoBroker) -> Iterator[TestClient]:
    client = TestClient(broker.host, broker.port, ["wechat/bridge/#"])
    yield client
    client.close()


def qr_src(url: str) -> str:
    from bridge.homeassistant import qr_svg

    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(url)).decode()


def test_a_person_not_bound_is_logged_in_from_the_page(page: Page, setup: Setup, watcher: TestClient) -> None:
    fake = setup.fake
    alice = page.locator("#ilink-alice")
    expect(alice.locator("#ilink-state-alice")).to_have_text("logged out")
    expect(alice.locator(".reason")).to_have_text(
        "nobody is bound as 'alice': run `wechat-mqtt-bridge ilink login --name alice` or use the status page")
    expect(alice.locator(".waiting")).to_have_text("0")
    expect(page.locator("#ilink-bob")).to_be_visible()  # every person the rooms name has a block

    logins = len(fake.logins)
    alice.get_by_role("button", name="Log in with a QR code").click()
    expect(page.locator("#ilink-result")).to_have_text("a QR login for alice started: its code appears above")
    wait_for(lambda: len(fake.logins) > logins, timeout=10, what="the bridge asking iLink for a QR code")
    image = page.locator("img#ilink-qr-alice")
    expect(image).to_have_attribute("src", qr_src(fake.login.url), timeout=LIVE_MS)
    assert image.evaluate("img => img.complete && img.naturalWidth") >= 330
    expect(alice.locator("#ilink-state-alice")).to_have_text("scan the QR code")
    expect(alice.locator(".reason")).to_have_text(
        "scan the QR code with alice's WeChat to log the official bot in (code 1 of 3)")
    # The same on the retained topic, which Home Assistant and the fallback read.
    scan = watcher.wait_json("wechat/bridge/ilink/alice", lambda b: b["state"] == "scan" and b["qr"])
    assert scan["qr"] == fake.login.url

    fake.scan(ALICE)
    expect(alice.locator(".reason")).to_have_text("scanned: confirm the login on the phone", timeout=LIVE_MS)
    bot = fake.confirm()
    expect(alice.locator("#ilink-state-alice")).to_have_text("logged in", timeout=LIVE_MS)
    expect(page.locator("img#ilink-qr-alice")).to_have_count(0)
    expect(alice.locator(".reason")).to_have_text(
        "alice has not written to the official bot yet: it may write only after a message from them")
    stored = json.loads((setup.credentials / "alice.json").read_text())
    assert (stored["token"], stored["user_id"]) == (bot.token, ALICE)

    # alice writes to her bot: the window opens, with the whole budget, and the page says until when.
    fake.push(ALICE, "hello bot", bot=bot)
    expect(alice.locator(".budget")).to_have_text("10", timeout=LIVE_MS)
    expect(alice.locator(".window-until time")).to_have_count(1)
    expect(alice.locator(".reason")).to_have_count(0)
    info = watcher.wait_json("wechat/bridge/info", lambda b: (b.get("ilink") or {}).get("alice", {}).get("budget"))
    assert info["ilink"]["alice"]["state"] == "logged_in"
    assert set(info["ilink"]["alice"]) == {"state", "window_until", "budget", "waiting", "reason"}
    assert bot.token not in json.dumps(info)


def test_the_number_the_phone_shows_is_typed_into_the_page(page: Page, setup: Setup) -> None:
    fake = setup.fake
    bob = page.locator("#ilink-bob")
    logins = len(fake.logins)
    bob.get_by_role("button", name="Log in with a QR code").click()
    wait_for(lambda: len(fake.logins) > logins, timeout=10, what="the bridge asking iLink for a QR code")
    expect(page.locator("img#ilink-qr-bob")).to_have_attribute("src", qr_src(fake.login.url), timeout=LIVE_MS)

    fake.scan(BOB, verify_code="4711")  # the phone shows 4711 and WeChat asks for it
    field = bob.get_by_label("The number the phone shows")
    expect(field).to_be_visible(timeout=LIVE_MS)
    expect(bob.locator(".reason")).to_have_text("enter the number the phone shows (status page)")
    field.fill("1234")
    bob.get_by_role("button", name="Confirm").click()
    expect(bob.locator(".reason")).to_have_text(
        "that number was wrong: enter the number the phone shows (status page)", timeout=LIVE_MS)
    field = bob.get_by_label("The number the phone shows")
    field.fill("4711")
    bob.get_by_role("button", name="Confirm").click()
    expect(page.locator("#ilink-result")).to_have_text("the number went to WeChat")
    expect(bob.locator(".reason")).to_have_text("scanned: confirm the login on the phone", timeout=LIVE_MS)
    fake.confirm()
    expect(bob.locator("#ilink-state-bob")).to_have_text("logged in", timeout=LIVE_MS)
    assert json.loads((setup.credentials / "bob.json").read_text())["user_id"] == BOB
    assert fake.login.wrong_codes == 1


def test_a_person_no_room_names_yet_can_be_bound_by_name(page: Page, setup: Setup) -> None:
    fake = setup.fake
    logins = len(fake.logins)
    page.get_by_label("Bind a person by name").fill("carol")
    page.get_by_role("button", name="Start a QR login").click()
    wait_for(lambda: len(fake.logins) > logins, timeout=10, what="the bridge asking iLink for a QR code")
    carol = page.locator("#ilink-carol")
    expect(carol.locator("img#ilink-qr-carol")).to_have_attribute("src", qr_src(fake.login.url), timeout=LIVE_MS)
    fake.scan(CAROL)
    fake.confirm()
    expect(carol.locator("#ilink-state-carol")).to_have_text("logged in", timeout=LIVE_MS)
    expect(carol.locator(".reason")).to_have_text("bound; a room with `ilink: carol` sends to them")
    assert (setup.credentials / "carol.json").exists()

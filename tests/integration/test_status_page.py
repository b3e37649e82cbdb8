"""The status page in a real browser: Debian's headless chromium, the real bridge, broker and mock gateway.

Playwright's locators and `expect` wait on what the page shows; nothing here sleeps. Every request
the browser makes is recorded: all of them must go to the bridge itself (the page works offline).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, UNPACED, WORLD
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker, free_port
from tests.support.browser import chromium_path, skip_reason
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import Received, TestClient

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

if skip_reason() is None:
    from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

TOKEN = "status-page-token-0123456789"
EVIL = "<script>alert(1)</script>"
#: The shared world plus a room whose name is HTML, as anyone in WeChat may name a group.
PAGE_WORLD: dict[str, Any] = {**WORLD, "rooms": [*WORLD["rooms"], {"id": "room-evil@chatroom", "topic": EVIL,
                                                                   "members": ["alice"]}]}
#: How long a live update may take to show (the issue: "within a second or two").
LIVE_MS = 2500


def body(port: int) -> str:
    return textwrap.dedent(f"""\
        http: {{enabled: true, port: {port}, token: {TOKEN}}}
        rooms:
          family: {{topic: "Happy Family"}}
          ops: {{id: "room-ops@chatroom", allow_direct: false, listen: true}}
          nowhere: {{topic: "No such room"}}
        routes:
          - name: door
            topic: "home/{{area}}/door"
            rooms: [family]
            when: "payload.state == 'open'"
            template: "The {{{{ area }}}} door is {{{{ payload.state }}}}"
        """)


class Setup:
    def __init__(self, base: str, config: Path, gateway: MockGateway, bridge: BridgeProcess) -> None:
        self.base = base
        self.config = config
        self.gateway = gateway
        self.bridge = bridge


@contextlib.contextmanager
def page_setup(tmp: Path, broker: MosquittoBroker, *, base_topic: str,
               body: Callable[[int], str]) -> Iterator[Setup]:
    """The mock gateway serving PAGE_WORLD and a bridge on `broker` with `body(port)` (rooms, routes, http)."""
    gateway = MockGateway().start(PAGE_WORLD)
    port = free_port()
    config = tmp / "config.yaml"
    config.write_text(
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}, client_id: {base_topic}-page-{uuid.uuid4().hex[:6]}, "
        f"base_topic: {base_topic}}}\n"
        f"wechaty: {{endpoint: '{gateway.endpoint}'}}\n"
        f"outbox: {{path: '{tmp / 'outbox.sqlite3'}'}}\n"
        f"pacing: {{{UNPACED}}}\n" + body(port))
    bridge = BridgeProcess(config, env={"WECHATY_PUPPET_SERVICE_TOKEN": gateway.token}).start(wait_ready=True)
    try:
        yield Setup(f"http://127.0.0.1:{port}", config, gateway, bridge)
    finally:
        bridge.stop()
        gateway.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker) -> Iterator[Setup]:
    with page_setup(tmp_path_factory.mktemp("status-page"), broker, base_topic="wechat",
                    body=lambda port: "log_level: debug\n" + body(port)) as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        yield _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])


@pytest.fixture
def page(browser: Browser, setup: Setup) -> Iterator[Page]:
    yield from browsing(browser, setup)


def browsing(browser: Browser, setup: Setup) -> Iterator[Page]:
    """A fresh browser profile; every request it makes must go to the bridge."""
    context = browser.new_context()
    outside: list[str] = []

    def only_the_bridge(route: Any) -> None:
        if route.request.url.startswith(setup.base + "/"):
            route.continue_()
        else:  # the network is "cut off": anything else is recorded and refused
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_bridge)
    dialogs: list[str] = []
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert outside == [], "the page asked for something outside the bridge"
    assert dialogs == [], "a script ran that the page did not serve"


def log_in(page: Page, setup: Setup, token: str = TOKEN) -> None:
    page.goto(setup.base + "/")
    page.get_by_label("HTTP token").fill(token)
    page.get_by_role("button", name="Log in").click()


def logged_in(page: Page, setup: Setup) -> Page:
    log_in(page, setup)
    expect(page.locator("#live")).to_have_text("live")
    return page


def test_a_wrong_token_is_refused_and_the_right_one_shows_the_rooms_with_ids(page: Page, setup: Setup) -> None:
    log_in(page, setup, "not-the-token-at-all-0000")
    expect(page.locator("#login-error")).to_have_text("That is not the HTTP token (http.token).")
    assert page.context.cookies() == []
    assert TOKEN not in page.url and "token" not in page.url
    log_in(page, setup)
    expect(page.locator("#login-state")).to_have_text("logged in")
    [cookie] = page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)
    family = page.locator('#configured-rooms tr[data-key="family"]')
    expect(family).to_contain_text("Happy Family")
    expect(family.locator("code")).to_have_text("room-family@chatroom")
    expect(page.locator('#configured-rooms tr[data-key="ops"]')).to_contain_text("room-ops@chatroom")
    expect(page.locator('#configured-rooms tr[data-key="nowhere"]')).to_contain_text(
        "room 'nowhere': the account is in no room named 'No such room'")
    others = page.locator("#other-rooms tbody tr")
    expect(others.filter(has_text="老家群").locator("code")).to_have_text("room-laojia@chatroom")
    expect(others.filter(has_text="Twins")).to_have_count(2)
    expect(page.locator("#queue-held")).to_have_text("0")  # no room of this setup has quiet hours


def test_a_room_named_with_html_shows_as_text(page: Page, setup: Setup) -> None:
    logged_in(page, setup)
    evil = page.locator("#other-rooms td.room-name", has_text=EVIL)
    expect(evil).to_have_text(EVIL)
    expect(page.locator("#rooms script")).to_have_count(0)


def rooms_resolved(message: Received, base: str = "wechat") -> bool:
    """The bridge resolved its rooms while logged in: it publishes `bridge/info` live right after (and
    `bridge/rooms` only when the list changed), so an info saying logged_in after a logout means that."""
    return message.topic == f"{base}/bridge/info" and not message.retain and message.json()["login"] == "logged_in"


def test_the_qr_code_shows_while_a_scan_is_needed_and_logged_in_follows_without_a_reload(
        page: Page, setup: Setup, listener: TestClient) -> None:
    from bridge.homeassistant import qr_svg

    logged_in(page, setup)
    page.evaluate("window.notReloaded = true")
    resolved_before = len([m for m in listener.messages() if rooms_resolved(m)])
    setup.gateway.logout()
    try:
        expect(page.locator("#login-state")).to_have_text("logged out", timeout=LIVE_MS * 2)
        qr = "https://login.weixin.qq.com/l/status-page-test"
        setup.gateway.scan(qr)
        image = page.locator("img#qr")
        expect(image).to_be_visible(timeout=LIVE_MS)
        expect(page.locator("#login-state")).to_have_text("scan the QR code")
        assert image.get_attribute("src") == "data:image/svg+xml;base64," + base64.b64encode(qr_svg(qr)).decode()
        assert image.evaluate("img => img.complete && img.naturalWidth") >= 330  # drawn, and big enough
        second = "https://login.weixin.qq.com/l/status-page-test-2"
        setup.gateway.scan(second)  # the gateway issues a new code: the page follows
        expect(image).to_have_attribute("src", "data:image/svg+xml;base64," + base64.b64encode(
            qr_svg(second)).decode(), timeout=LIVE_MS)
    finally:
        setup.gateway.login()
    expect(page.locator("#login-state")).to_have_text("logged in", timeout=LIVE_MS * 2)
    expect(page.locator("#login-user")).to_have_text("Bridge Bot")
    expect(page.locator("img#qr")).to_have_count(0)
    expect(page.locator("#login")).to_contain_text("Last logout")
    assert page.evaluate("window.notReloaded") is True
    # Rooms resolved again (published live) for the tests after this one.
    listener.wait_for(rooms_resolved, count=resolved_before + 1, what="the rooms resolved again after the login")


def test_a_delivery_published_on_mqtt_appears_in_the_recent_list(
        page: Page, setup: Setup, listener: TestClient) -> None:
    logged_in(page, setup)
    event_id = f"door-{uuid.uuid4().hex[:6]}"
    listener.publish("home/front/door", json.dumps({"state": "open", "id": event_id}))
    row = page.locator(f'#deliveries tr.delivery[data-id="{event_id}"]')
    expect(row).to_contain_text("delivered", timeout=LIVE_MS)
    expect(row).to_contain_text("family")
    expect(row).to_contain_text("home/front/door")
    row.click()  # log_level is debug here: the text is shown
    expect(page.locator(f'#deliveries tr.text[data-for="{event_id}"]')).to_have_text("The front door is open")
    rejected = f"bad-{uuid.uuid4().hex[:6]}"
    listener.publish("wechat/send/ops", json.dumps({"text": "x", "id": rejected}))
    bad = page.locator(f'#deliveries tr.delivery[data-id="{rejected}"]')
    expect(bad).to_contain_text("room 'ops' does not take direct sends (allow_direct: false)", timeout=LIVE_MS)
    page.locator("#filter-status").select_option("rejected")
    expect(row).to_be_hidden()
    expect(bad).to_be_visible()
    page.locator("#filter-status").select_option("")
    page.locator("#filter-room").select_option("family")
    expect(row).to_be_visible()
    expect(bad).to_be_hidden()


@pytest.mark.parametrize(("topic", "payload"), [
    ("home/front/door", '{"state": "open"}'),
    ("home/back/door", '{"state": "closed"}'),
    ("home/front/door", "not json"),
    ("wechat/send/ops", "hello"),
    ("nothing/here", ""),
])
def test_the_route_tester_shows_what_render_prints(page: Page, setup: Setup, topic: str, payload: str) -> None:
    printed = subprocess.run([sys.executable, "-m", "bridge", "render", "-c", str(setup.config), "-t", topic,
                              "-p", payload], capture_output=True, text=True, check=True,
                             env={**os.environ, "WECHATY_PUPPET_SERVICE_TOKEN": setup.gateway.token}).stdout
    logged_in(page, setup)
    page.get_by_label("Topic").fill(topic)
    page.get_by_label("Payload").fill(payload)
    page.get_by_role("button", name="Render").click()
    expect(page.locator("#try-output")).to_have_text(printed.rstrip("\n"), use_inner_text=True)


def test_a_test_message_from_the_page_arrives_with_one_report(
        page: Page, setup: Setup, listener: TestClient) -> None:
    logged_in(page, setup)
    setup.gateway.clear()
    text = f"Test from the page {uuid.uuid4().hex[:6]}"
    page.locator("#send-room").select_option("family")
    page.locator("#send-text").fill(text)
    page.get_by_role("button", name="Send").click()
    result = page.locator("#send-result")
    expect(result).to_contain_text("queued as ")
    event_id = re.search(r"queued as (\w+)", result.inner_text()).group(1)  # type: ignore[union-attr]
    expect(page.locator(f'#deliveries tr.delivery[data-id="{event_id}"]')).to_have_count(1, timeout=LIVE_MS)
    expect(page.locator(f'#deliveries tr.delivery[data-id="{event_id}"]')).to_contain_text("delivered")
    assert [(m["room_id"], m["text"]) for m in setup.gateway.messages()] == [("room-family@chatroom", text)]
    [report] = [m.json() for m in listener.messages(DELIVERY) if m.json()["id"] == event_id]
    assert (report["status"], report["room"]["key"], report["topic"]) == ("delivered", "family", "/page/send")
    expect(page.locator("#send-room option")).to_have_text(["family", "nowhere"])  # not ops: allow_direct false


# --- the same page with `locale: zh-CN` --------------------------------------------------------

#: Its own base topic and route topics: this bridge shares the broker with the English one above.
ZH_BODY = """\
locale: zh-CN
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom", allow_direct: false, listen: true}
routes:
  - name: door
    topic: "zh/{area}/door"
    rooms: [family]
    template: "The {{ area }} door is {{ payload.state }}"
    translations: {zh-CN: "🚪 {{ area }}的门{{ '开了' if payload.state == 'open' else '关了' }}"}
"""


@pytest.fixture(scope="module")
def zh_setup(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker) -> Iterator[Setup]:
    def zh_body(port: int) -> str:
        return f"homeassistant: {{discovery: false}}\nhttp: {{enabled: true, port: {port}, token: {TOKEN}}}\n" + ZH_BODY

    with page_setup(tmp_path_factory.mktemp("status-page-zh"), broker, base_topic="wechat-zh",
                    body=zh_body) as found:
        yield found


@pytest.fixture
def zh_page(browser: Browser, zh_setup: Setup) -> Iterator[Page]:
    yield from browsing(browser, zh_setup)


def zh_logged_in(page: Page, setup: Setup) -> Page:
    page.goto(setup.base + "/")
    page.get_by_label("HTTP token").fill(TOKEN)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#live")).to_have_text("实时")
    return page


def test_in_chinese_the_login_form_and_its_refusal(zh_page: Page, zh_setup: Setup) -> None:
    zh_page.goto(zh_setup.base + "/")
    expect(zh_page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(zh_page.locator("h2")).to_have_text("登录")
    zh_page.get_by_label("HTTP token").fill("not-the-token-at-all-0000")
    zh_page.get_by_role("button", name="登录", exact=True).click()
    expect(zh_page.locator("#login-error")).to_have_text("token 不对：请填配置里的 http.token。")
    assert zh_page.context.cookies() == []


def test_in_chinese_the_page_labels_its_sections_and_keeps_values_as_they_are(
        zh_page: Page, zh_setup: Setup, listener: TestClient) -> None:
    page = zh_logged_in(zh_page, zh_setup)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("main h2")).to_have_text(
        ["微信登录", "连接", "群聊", "待发队列", "最近投递", "试一试路由", "发送测试消息"])
    expect(page.locator("#login-state")).to_have_text("已登录")
    expect(page.locator("#link-broker td").nth(1)).to_have_text("已连接")
    expect(page.locator("#configured-rooms thead th")).to_have_text(
        ["键名", "查找方式", "群", "id", "成员数", "直接发送", "监听群消息"])
    # The config's and WeChat's words stay as they are: `topic 'Happy Family'`, the room's name, its id.
    expect(page.locator('#configured-rooms tr[data-key="family"] td')).to_have_text(
        ["family", "topic 'Happy Family'", "Happy Family", "room-family@chatroom 复制", "3", "是", "否"])
    expect(page.locator('#configured-rooms tr[data-key="ops"] td').nth(5)).to_have_text("否")
    expect(page.locator('#configured-rooms tr[data-key="ops"] td').nth(6)).to_have_text("是")
    expect(page.locator("#other-rooms td.room-name", has_text=EVIL)).to_have_text(EVIL)
    expect(page.locator("#filter-status option")).to_have_text(
        ["全部", "delivered · 已送达", "rejected · 被拒绝", "failed · 发送失败", "expired · 已过期",
         "dropped · 被限流"])

    # A delivery: the status stays `delivered` (automations match on it), its Chinese label beside it.
    event_id = f"zh-door-{uuid.uuid4().hex[:6]}"
    listener.publish("zh/前门/door", json.dumps({"state": "open", "id": event_id}))
    row = page.locator(f'#deliveries tr.delivery[data-id="{event_id}"]')
    expect(row.locator("td").nth(1)).to_have_text("delivered 已送达", timeout=LIVE_MS)
    expect(row.locator(".badge")).to_have_text("delivered")
    expect(row.locator("td").nth(3)).to_have_text("door")
    expect(page.locator("#deliveries p.muted")).to_have_text("只有设置了 log_level: debug，这里才显示消息文字。")

    # The route tester prints what `render` prints (its words are the CLI's), with the route's Chinese text.
    page.get_by_label("主题").fill("zh/后门/door")
    page.get_by_label("消息内容（payload）").fill('{"state": "closed"}')
    page.get_by_role("button", name="预览", exact=True).click()
    expect(page.locator("#try-output")).to_contain_text("🚪 后门的门关了")

    # A test message: the default text, the button and the script's answer are the locale's.
    zh_setup.gateway.clear()
    expect(page.locator("#send-text")).to_have_value("这是来自状态页的测试消息")
    page.get_by_role("button", name="发送", exact=True).click()
    result = page.locator("#send-result")
    expect(result).to_contain_text("已加入待发队列，编号 ")
    expect(result).to_contain_text("；投递回报会出现在“最近投递”里")
    sent_id = re.search(r"编号 (\w+)；", result.inner_text()).group(1)  # type: ignore[union-attr]
    expect(page.locator(f'#deliveries tr.delivery[data-id="{sent_id}"] td').nth(1)).to_have_text(
        "delivered 已送达", timeout=LIVE_MS)
    expect(page.locator(f'#deliveries tr.delivery[data-id="{sent_id}"] td').nth(3)).to_have_text("直接发送")
    assert [(m["room_id"], m["text"]) for m in zh_setup.gateway.messages()] == [
        ("room-family@chatroom", "这是来自状态页的测试消息")]


def test_in_chinese_the_login_states_and_the_qr_code(zh_page: Page, zh_setup: Setup) -> None:
    page = zh_logged_in(zh_page, zh_setup)
    info = zh_setup.bridge.watcher(["wechat-zh/bridge/info"])
    zh_setup.gateway.logout()
    try:
        expect(page.locator("#login-state")).to_have_text("已退出登录", timeout=LIVE_MS * 2)
        zh_setup.gateway.scan("https://login.weixin.qq.com/l/status-page-zh")
        expect(page.locator("img#qr")).to_be_visible(timeout=LIVE_MS)
        expect(page.locator("#login-state")).to_have_text("请扫码登录")
        expect(page.locator("img#qr")).to_have_attribute("alt", "微信登录二维码")
        expect(page.locator("#login p").nth(1)).to_have_text(
            "在这个微信号的手机上打开微信，点右上角 + → 扫一扫，扫描下面的二维码。")
    finally:
        zh_setup.gateway.login()
    expect(page.locator("#login-state")).to_have_text("已登录", timeout=LIVE_MS * 2)
    expect(page.locator("#login p").nth(1)).to_have_text("已登录：Bridge Bot（bot）")
    expect(page.locator("#login")).to_contain_text("上次退出登录：")
    # Rooms resolved again (published live) for the tests after this one.
    try:
        info.wait_for(lambda m: rooms_resolved(m, "wechat-zh"), what="the rooms resolved again after the login")
    finally:
        info.close()

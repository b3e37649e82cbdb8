"""docs/status-page.png: the status page on the demo setup, taken with headless chromium.

    .venv/bin/python -m scripts.screenshot [out.png]

The same world, mappings and sample events as ./scripts/demo, with the HTTP door on; Debian's
chromium (scripts/setup.sh installs it) driven by Playwright, at a phone-friendly width.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from scripts.demo import EVENTS, EXPECTED_REPORTS, ROOT, WORLD
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker, free_port
from tests.support.browser import chromium_path
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

TOKEN = "demo-status-page-token"
WIDTH, HEIGHT = 960, 1400


def main(out: Path) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="wechat-mqtt-bridge-screenshot-"))
    broker = MosquittoBroker().start()
    gateway = MockGateway().start(WORLD)
    port = free_port()
    config = workdir / "config.yaml"
    config.write_text(
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}, base_topic: wechat}}\n"
        f"wechaty: {{endpoint: '{gateway.endpoint}', token: '{gateway.token}'}}\n"
        f"include: ['{ROOT / 'mappings' / 'example.yaml'}']\n"
        f"outbox: {{path: '{workdir / 'outbox.sqlite3'}'}}\n"
        f"http: {{enabled: true, port: {port}, token: {TOKEN}}}\n"
        "homeassistant: {discovery: false}\n"
    )
    bridge = BridgeProcess(config).start()
    client = TestClient(broker.host, broker.port, ["wechat/bridge/delivery"])
    try:
        bridge.wait_for_log("configured rooms resolved", timeout=60)
        for topic, payload in EVENTS:
            client.publish(topic, payload)
        client.wait_for(lambda m: True, count=EXPECTED_REPORTS, timeout=30, what="delivery reports")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                 args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_label("HTTP token").fill(TOKEN)
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#deliveries tr.delivery")).to_have_count(EXPECTED_REPORTS)
            page.get_by_label("Topic").fill("home/front/door")
            page.get_by_label("Payload").fill('{"state": "open"}')
            page.get_by_role("button", name="Render").click()
            expect(page.locator("#try-output")).to_contain_text("matches")
            page.screenshot(path=str(out), full_page=True)
            browser.close()
        print(f"wrote {out}")
        return 0
    finally:
        client.close()
        bridge.stop()
        gateway.stop()
        broker.close()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "status-page.png"))

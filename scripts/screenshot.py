"""docs/status-page.png: the status page on the demo setup, taken with headless chromium.

    .venv/bin/python -m scripts.screenshot [out.png]

The same world, mappings and sample events as ./scripts/demo, with the HTTP door on; Debian's
chromium (scripts/setup.sh installs it) driven by Playwright, at a phone-friendly width.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from scripts.demo import EVENTS, EXPECTED_REPORTS, ROOT, demo_setup
from tests.support.broker import free_port
from tests.support.browser import chromium_path

TOKEN = "demo-status-page-token"
WIDTH, HEIGHT = 960, 1400


def main(out: Path) -> int:
    port = free_port()
    with demo_setup(f"http: {{enabled: true, port: {port}, token: {TOKEN}}}\n") as demo:
        for topic, payload in EVENTS:
            demo.client.publish(topic, payload)
        demo.client.wait_for(lambda m: True, count=EXPECTED_REPORTS, timeout=30, what="delivery reports")
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


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "status-page.png"))

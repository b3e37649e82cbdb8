"""The status page's official bot section, rendered by the page's own templates in both locales."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bridge.chat import IlinkState
from bridge.config.loader import load_config
from bridge.http.overview import LoginView, Snapshot
from bridge.http.page import StatusPage
from bridge.pipeline.runtime import LiveRuntime, Runtime

CONFIG = """\
mqtt: {{base_topic: wechat}}
locale: {locale}
http: {{enabled: true, token: page-ilink-unit-token-0123}}
rooms:
  me: {{ilink: alice}}
"""


def snapshot(ilink: list[IlinkState] | None) -> Snapshot:
    login = LoginView(state="logged_in", since=0.0, user=None, user_id=None, reason=None, qrcode=None,
                      last_logout_at=None, last_logout_reason=None)
    return Snapshot(login=login, ilink=ilink, links={}, configured=[], others=[], queue=None, recent=[], debug=False)


def section(tmp_path: Path, locale: str, ilink: list[IlinkState] | None) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(locale=locale))
    config = load_config(path, environ={})
    overview: Any = None  # the macros render a snapshot; nothing here asks the overview
    page = StatusPage(config.http, overview=overview, live=LiveRuntime(Runtime.compile(config)),
                      accept=_refuse, metrics=None)
    return page._macros(snapshot(ilink))["ilink"]


async def _refuse(planned: object) -> None:
    raise AssertionError("nothing is sent here")


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


PEOPLE = [
    IlinkState(name="alice", state="logged_in", window_until=1_800_000_000.0, budget=7, waiting=2),
    IlinkState(name="bob", state="scan", qr="https://liteapp.weixin.qq.com/q/abc", asks_code=True,
               reason="enter the number the phone shows (status page)"),
    IlinkState(name="carol", state="logged_out", reason="nobody is bound as 'carol'"),
]


@pytest.mark.parametrize(("locale", "words"), [
    ("en", ["alice logged in", "Window until", "Messages left 7", "Waiting 2", "bob scan the QR code",
            "Open WeChat on bob's phone", "The number the phone shows", "carol logged out",
            "Log in with a QR code"]),
    ("zh-CN", ["alice 已登录", "回复窗口截止", "剩余条数 7", "待发 2", "在 bob 的手机上打开微信", "手机上显示的数字",
               "确认", "carol 已退出登录", "扫码登录"]),
])
def test_each_person_in_both_locales_with_what_comes_from_the_bridge_as_it_is(
        tmp_path: Path, locale: str, words: list[str]) -> None:
    html = section(tmp_path, locale, PEOPLE)
    shown = text(html)
    for word in words:
        assert word in shown, (word, shown)
    # Reasons are the bridge's sentences (as on `<base>/bridge/ilink/<name>`), in every locale.
    assert "enter the number the phone shows (status page)" in shown and "nobody is bound as &#39;carol&#39;" in html
    assert 'id="ilink-qr-bob" class="qr"' in html and 'src="data:image/svg+xml;base64,' in html
    assert 'form class="ilink-verify" data-name="bob"' in html
    # A login under way has no second login button; the others have one.
    assert re.findall(r'button type="button" class="ilink-login secondary" data-name="(\w+)"', html) == [
        "alice", "carol"]
    assert '<time datetime="2027-01-15T' in html


def test_no_section_without_the_official_bot(tmp_path: Path) -> None:
    assert section(tmp_path, "en", None).strip() == ""

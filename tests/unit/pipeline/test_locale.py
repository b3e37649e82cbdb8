"""The `locale` setting end to end in one process: the config's defaults, the routes' translations,
and the texts a room gets (digest, numbered parts), asserted in both locales."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.config.models import Config
from bridge.delivery.pacing import format_digest, split_text
from bridge.errors import ConfigError
from bridge.events import InboundMessage, Queued
from bridge.pipeline import plan as pipeline
from bridge.pipeline.runtime import Runtime

BASE = """\
wechaty: {token: t}
rooms:
  family: {topic: "幸福一家人🏠"}
routes:
  - name: leak
    topic: "zigbee2mqtt/{device}"
    rooms: [family]
    when: "payload.water_leak"
    template: "💧 Water leak: {{ device }}! ({{ payload.since | duration }})"
    translations:
      zh-CN: "💧 漏水：{{ device }}！（{{ payload.since | duration }}）"
"""


def load(tmp_path: Path, text: str) -> Runtime:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return Runtime.compile(load_config(path, environ={}))


def texts(runtime: Runtime, topic: str, payload: str) -> list[str]:
    outcomes = pipeline.plan(runtime, InboundMessage(topic=topic, payload=payload.encode(), retain=False,
                                                     received_at=time.time())).outcomes
    return [o.delivery.text for o in outcomes if isinstance(o, Queued)]


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, environ={})


@pytest.mark.parametrize(("locale", "expected"), [
    ("", "💧 Water leak: 洗衣房地面! (1 h 2 min)"),
    ("locale: en\n", "💧 Water leak: 洗衣房地面! (1 h 2 min)"),
    ("locale: zh-CN\n", "💧 漏水：洗衣房地面！（1小时2分钟）"),
    ("locale: zh_CN\n", "💧 漏水：洗衣房地面！（1小时2分钟）"),
])
def test_a_route_speaks_the_configured_locale(tmp_path: Path, locale: str, expected: str) -> None:
    pipeline = load(tmp_path, locale + BASE)
    assert texts(pipeline, "zigbee2mqtt/洗衣房地面", '{"water_leak": true, "since": 3725}') == [expected]


def test_the_digest_header_and_part_marker_follow_the_locale(tmp_path: Path) -> None:
    english = config(tmp_path, BASE).pacing
    chinese = config(tmp_path, "locale: zh-CN\n" + BASE).pacing
    assert format_digest(["门开了", "灯亮了"], english.digest) == "2 notifications:\n• 门开了\n• 灯亮了"
    assert format_digest(["门开了", "灯亮了"], chinese.digest) == "2 条通知：\n• 门开了\n• 灯亮了"
    long = "温度正常。" * 30  # 150 characters
    assert split_text(long, 100, english.part_marker) == [
        "(1/2) " + "温度正常。" * 18, "(2/2) " + "温度正常。" * 12]
    assert split_text(long, 100, chinese.part_marker) == [
        "（1/2）" + "温度正常。" * 19, "（2/2）" + "温度正常。" * 11]


def test_what_the_user_writes_wins_over_the_locale(tmp_path: Path) -> None:
    pacing = config(tmp_path, "locale: zh-CN\npacing:\n  part_marker: '[{index}] '\n"
                              "  digest: {header: '{count} 件事：'}\n" + BASE).pacing
    assert (pacing.part_marker, pacing.digest.header) == ("[{index}] ", "{count} 件事：")
    assert split_text("好" * 150, 100, pacing.part_marker) == ["[1] " + "好" * 96, "[2] " + "好" * 54]


@pytest.mark.parametrize(("text", "problem"), [
    ("locale: fr\n", "locale: Input should be 'en' or 'zh-CN'"),
    ("pacing: {part_marker: '({{ index }}) '}\n", "the part marker is not a template: write {index}"),
    ("pacing: {part_marker: '({total}) '}\n", "the part marker is not a template: write {index}"),
])
def test_bad_locale_settings_are_located(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, text + BASE)
    assert any(problem in str(p) for p in info.value.problems), info.value.problems


def test_translations_need_a_template_and_a_known_locale(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, BASE + "  - topic: x\n    rooms: [family]\n    image: payload\n"
                                "    translations: {zh-CN: '图片'}\n"
                                "  - topic: y\n    rooms: [family]\n    template: a\n    translations: {fr: b}\n")
    found = [str(p) for p in info.value.problems]
    assert any("routes[1]: 'translations' replace the 'template': give a template too" in p for p in found), found
    assert any("routes[2].translations.fr.[key]: Input should be 'en' or 'zh-CN'" in p for p in found), found


def test_check_finds_a_broken_translation_whatever_the_locale(tmp_path: Path) -> None:
    broken = BASE.replace("（{{ payload.since | duration }}）", "（{{ payload.since | duration }）")
    for locale in ("", "locale: zh-CN\n"):
        with pytest.raises(ConfigError) as info:
            load(tmp_path, locale + broken)
        [problem] = info.value.problems
        assert "routes[0].translations.zh-CN: template syntax error" in str(problem), problem

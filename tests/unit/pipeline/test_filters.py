"""The template filters of bridge/filters.py, used the way a mapping uses them: through the engine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.errors import TemplateError
from bridge.i18n import texts_for
from bridge.pipeline.templates import TemplateEngine

ENGINE = TemplateEngine()
CHINESE = TemplateEngine(texts_for("zh-CN"))


def render(source: str, **context: Any) -> str:
    return ENGINE.compile(source).render(context)


def render_zh(source: str, **context: Any) -> str:
    return CHINESE.compile(source).render(context)


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The bridge's local time zone set to UTC+8 (no DST), as `TZ` sets it in the container."""
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("seconds", "text"), [
    (3725, "1 h 2 min"), (3600, "1 h"), (3605, "1 h"), (45, "45 s"), (90, "1 min 30 s"), (0, "0 s"),
    (0.4, "0 s"), (59.6, "1 min"), (86_400 + 3_600 * 5 + 60, "1 d 5 h"), (-125, "-2 min 5 s"), ("3725", "1 h 2 min"),
])
def test_duration(seconds: Any, text: str) -> None:
    assert render("{{ s | duration }}", s=seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (3725, "1小时2分钟"), (3600, "1小时"), (45, "45秒"), (90, "1分钟30秒"), (0, "0秒"),
    (86_400 + 3_600 * 5 + 60, "1天5小时"), (-125, "-2分钟5秒"), (timedelta(days=2), "2天"),
])
def test_duration_in_chinese(seconds: Any, text: str) -> None:
    assert render_zh("{{ s | duration }}", s=seconds) == text


def test_duration_of_a_timedelta_and_of_nonsense() -> None:
    assert render("{{ d | duration }}", d=timedelta(days=2, minutes=3)) == "2 d"
    with pytest.raises(TemplateError, match=r"^the template failed on this payload: ValueError: duration: "
                                            r"'soon' is not a number$"):
        render("{{ 'soon' | duration }}")


@pytest.mark.usefixtures("shanghai")
@pytest.mark.parametrize(("value", "fmt", "text"), [
    ("2026-11-24T13:14:03Z", None, "21:14"),                 # ISO, UTC
    ("2026-11-24T13:14:03.412+00:00", None, "21:14"),
    ("2026-11-24T21:14:03", None, "21:14"),                  # Tasmota's Time: no zone, already local
    (1_795_000_000, "%Y-%m-%d %H:%M", "2026-11-18 19:06"),   # epoch seconds
    (1_795_000_000_000, "%Y-%m-%d %H:%M", "2026-11-18 19:06"),  # epoch milliseconds
    ("1795000000", "%H:%M:%S", "19:06:40"),
    (datetime(2026, 1, 1, tzinfo=UTC), "%d.%m. %H:%M", "01.01. 08:00"),
])
def test_localtime(value: Any, fmt: str | None, text: str) -> None:
    source = "{{ v | localtime }}" if fmt is None else "{{ v | localtime(fmt) }}"
    assert render(source, v=value, fmt=fmt) == text


@pytest.mark.usefixtures("shanghai")
@pytest.mark.parametrize(("fmt", "english", "chinese"), [
    (None, "19:06", "19:06"),  # WeChat shows today's times as 19:06 in Chinese too
    ("time", "19:06", "19:06"),
    ("date", "2026-11-18", "2026年11月18日"),
    ("datetime", "2026-11-18 19:06", "2026年11月18日 19:06"),
    ("%m/%d %H:%M", "11/18 19:06", "11/18 19:06"),  # a strftime format is the template's own
])
def test_localtime_named_formats_in_both_locales(fmt: str | None, english: str, chinese: str) -> None:
    source = "{{ v | localtime }}" if fmt is None else "{{ v | localtime(fmt) }}"
    assert (render(source, v=1_795_000_000, fmt=fmt), render_zh(source, v=1_795_000_000, fmt=fmt)) == (
        english, chinese)


@pytest.mark.usefixtures("shanghai")
def test_a_chinese_date_has_no_leading_zeros() -> None:
    assert render_zh("{{ v | localtime('date') }}", v="2026-01-05T08:00:00+08:00") == "2026年1月5日"
    assert render("{{ v | localtime('date') }}", v="2026-01-05T08:00:00+08:00") == "2026-01-05"


def test_localtime_refuses_an_unknown_format_name() -> None:
    with pytest.raises(TemplateError, match="'week' is neither time, date, datetime nor a strftime format"):
        render("{{ 0 | localtime('week') }}")


def test_localtime_of_nonsense() -> None:
    with pytest.raises(TemplateError, match="localtime: 'yesterday' is not an ISO 8601 time or a timestamp"):
        render("{{ 'yesterday' | localtime }}")


@pytest.mark.parametrize(("source", "text"), [
    ("{{ 21.456 | number }}", "21.5"), ("{{ 20.04 | number }}", "20"), ("{{ 0.567 | number(2) }}", "0.57"),
    ("{{ 1500 | number }}", "1500"), ("{{ '23.46' | number(1) }}", "23.5"), ("{{ -0.04 | number }}", "0"),
    ("{{ 2.5 | number(0) }}", "2"),  # Python rounds half to even
    ("{{ 21.456 | round(1) }}", "21.5"),  # Jinja's own round is there too
])
def test_number(source: str, text: str) -> None:
    assert render(source) == text


def test_number_of_nonsense() -> None:
    with pytest.raises(TemplateError, match="number: 'n/a' is not a number"):
        render("{{ 'n/a' | number }}")
    with pytest.raises(TemplateError, match="number: True is not a number"):
        render("{{ true | number }}")


@pytest.mark.parametrize(("value", "text"), [
    ("on", "🟢"), ("OFF", "⚫"), ("open", "🚪"), ("closed", "🔒"), ("wet", "💧"), ("dry", "✅"),
    (True, "✅"), (False, "❌"), ("true", "✅"), ("online", "🟢"), ("offline", "🔴"), (" Detected ", "🏃"),
    ("sideways", "❔"),
])
def test_emoji(value: Any, text: str) -> None:
    assert render("{{ v | emoji }}", v=value) == text


def test_emoji_with_another_fallback() -> None:
    assert render("{{ 'sideways' | emoji('') }}sideways") == "sideways"


def test_default_works_with_strict_undefined_on_the_last_level_only() -> None:
    payload = {"state": "open", "battery": {"level": 80}}
    assert render("{{ payload.missing | default('?') }}", payload=payload) == "?"
    assert render("{{ payload.battery.level | default('?') }}", payload=payload) == "80"
    assert render("{{ payload.missing is defined }}", payload=payload) == "False"
    with pytest.raises(TemplateError, match="'dict object' has no attribute 'missing'"):
        render("{{ payload.missing.level | default('?') }}", payload=payload)
    assert render("{{ payload.missing.level if payload.missing is defined else '?' }}", payload=payload) == "?"

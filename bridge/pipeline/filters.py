"""Template filters people reach for in notification texts (pure).

    {{ 3725 | duration }}                      1 h 2 min (zh-CN: 1小时2分钟)
    {{ "2026-11-24T13:14:00Z" | localtime }}   21:14 (in UTC+8); localtime("date"), localtime("datetime")
                                               (zh-CN: 2026年11月24日 21:14) or a strftime format
    {{ 21.456 | number }}                      21.5; number(2) for two decimals
    {{ "open" | emoji }}                       🚪; emoji("?") for another fallback than ❔

A filter given a value it cannot use raises `ValueError` with a sentence naming the filter and
the value; the template engine turns it into a `rejected` delivery report with that sentence.
`filters_for(texts)` binds the words and formats of the configured locale (`bridge.i18n`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bridge.i18n import ENGLISH, Texts

#: Epoch numbers above this are milliseconds (as JavaScript and Zigbee2MQTT write them), not seconds:
#: 1e11 seconds is the year 5138, 1e11 milliseconds is 1973.
_MILLISECONDS_ABOVE = 1e11

#: (unit in the catalog, seconds): each unit's text is a catalog message such as "{n} min".
_UNITS = ((86_400, "{n} d"), (3_600, "{n} h"), (60, "{n} min"), (1, "{n} s"))

#: Lower-case state -> emoji. Booleans are looked up as "true" / "false".
STATE_EMOJI: dict[str, str] = {
    "on": "🟢", "off": "⚫",
    "open": "🚪", "opened": "🚪", "closed": "🔒", "locked": "🔒", "unlocked": "🔓",
    "wet": "💧", "leak": "💧", "dry": "✅",
    "true": "✅", "false": "❌", "yes": "✅", "no": "❌",
    "ok": "✅", "done": "✅", "success": "✅", "delivered": "✅",
    "error": "❌", "failed": "❌", "failure": "❌", "rejected": "⛔",
    "online": "🟢", "offline": "🔴",
    "home": "🏠", "not_home": "🚶", "away": "🚶",
    "detected": "🏃", "motion": "🏃", "occupied": "🏃", "clear": "💤", "unoccupied": "💤",
    "alarm": "🚨", "triggered": "🚨", "warning": "⚠️", "problem": "⚠️",
    "low": "🪫", "charging": "🔌",
    "unknown": "❔", "unavailable": "❔",
}


def _number(value: Any, filter_name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{filter_name}: {value!r} is not a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(f"{filter_name}: {value!r} is not a number") from None
    else:
        raise ValueError(f"{filter_name}: {value!r} is not a number")
    if not math.isfinite(result):
        raise ValueError(f"{filter_name}: {value!r} is not a finite number")
    return result


def _unit(texts: Texts, message: str, amount: int) -> str:
    # Written out so the catalog test finds each message id in the code.
    units = {
        "{n} d": texts.pgettext("duration", "{n} d"),
        "{n} h": texts.pgettext("duration", "{n} h"),
        "{n} min": texts.pgettext("duration", "{n} min"),
        "{n} s": texts.pgettext("duration", "{n} s"),
    }
    return units[message].format(n=amount)


def duration(value: Any, texts: Texts = ENGLISH) -> str:
    """Seconds (or a timedelta) in words: the largest unit and the next one, `1 h 2 min`, `45 s`."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else _number(value, "duration")
    sign = "-" if seconds < 0 else ""
    left = round(abs(seconds))
    for index, (size, unit) in enumerate(_UNITS):
        if left >= size or size == 1:
            text = _unit(texts, unit, left // size)
            if index + 1 < len(_UNITS):
                next_size, next_unit = _UNITS[index + 1]
                if (amount := left % size // next_size) > 0:
                    # English puts a space between the units, Chinese none: 1 h 2 min, 1小时2分钟.
                    text = texts.pgettext("duration", "{larger} {smaller}").format(
                        larger=text, smaller=_unit(texts, next_unit, amount))
            return sign + text
    raise AssertionError("unreachable: the last unit always matches")


#: `localtime`'s named formats; the others are strftime formats (they hold a `%`).
LOCALTIME_FORMATS = ("time", "date", "datetime")


def _named_format(texts: Texts, name: str) -> str:
    # str.format patterns, not strftime: Chinese writes 11月4日 without the zero strftime's %m/%d add.
    return {
        "time": texts.pgettext("localtime", "{hour:02}:{minute:02}"),
        "date": texts.pgettext("localtime", "{year}-{month:02}-{day:02}"),
        "datetime": texts.pgettext("localtime", "{year}-{month:02}-{day:02} {hour:02}:{minute:02}"),
    }[name]


def localtime(value: Any, fmt: str = "time", texts: Texts = ENGLISH) -> str:
    """A time in the bridge's time zone: epoch seconds or milliseconds, ISO 8601 text, or a datetime.

    `fmt` is `time` (21:14), `date`, `datetime` in the locale's way, or a strftime format.
    ISO text without a zone (Tasmota's `Time`) is taken as local time already.
    """
    if "%" not in fmt and fmt not in LOCALTIME_FORMATS:
        raise ValueError(f"localtime: {fmt!r} is neither {', '.join(LOCALTIME_FORMATS)} nor a strftime format "
                         "such as '%Y-%m-%d %H:%M'")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and not _looks_numeric(value):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"localtime: {value!r} is not an ISO 8601 time or a timestamp") from None
    else:
        number = _number(value, "localtime")
        moment = datetime.fromtimestamp(number / 1000 if abs(number) > _MILLISECONDS_ABOVE else number)
    local = moment.astimezone()
    if "%" in fmt:
        return local.strftime(fmt)
    return _named_format(texts, fmt).format(year=local.year, month=local.month, day=local.day,
                                            hour=local.hour, minute=local.minute)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def number(value: Any, digits: int = 1) -> str:
    """Rounded to `digits` decimals, without trailing zeros: 21.456 -> `21.5`, 20.04 -> `20`."""
    text = f"{round(_number(value, 'number'), digits):.{max(digits, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def emoji(value: Any, default: str = "❔") -> str:
    """The emoji for a state such as on/off, open/closed, wet/dry, true/false; `default` otherwise."""
    key = ("true" if value else "false") if isinstance(value, bool) else str(value).strip().lower()
    return STATE_EMOJI.get(key, default)


def filters_for(texts: Texts) -> dict[str, Callable[..., str]]:
    """The filters, with `duration` and `localtime` speaking the language of `texts`."""

    def localized_duration(value: Any) -> str:
        return duration(value, texts)

    def localized_localtime(value: Any, fmt: str = "time") -> str:
        return localtime(value, fmt, texts)

    return {"duration": localized_duration, "localtime": localized_localtime, "number": number, "emoji": emoji}


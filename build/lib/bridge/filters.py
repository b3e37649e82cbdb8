"""Template filters people reach for in notification texts (pure).

    {{ 3725 | duration }}                      1 h 2 min
    {{ "2026-11-24T13:14:00Z" | localtime }}   21:14 (in UTC+8); localtime("%Y-%m-%d %H:%M") for another format
    {{ 21.456 | number }}                      21.5; number(2) for two decimals
    {{ "open" | emoji }}                       🚪; emoji("?") for another fallback than ❔

A filter given a value it cannot use raises `ValueError` with a sentence naming the filter and
the value; the template engine turns it into a `rejected` delivery report with that sentence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

#: Epoch numbers above this are milliseconds (as JavaScript and Zigbee2MQTT write them), not seconds:
#: 1e11 seconds is the year 5138, 1e11 milliseconds is 1973.
_MILLISECONDS_ABOVE = 1e11

_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))

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


def duration(value: Any) -> str:
    """Seconds (or a timedelta) in words: the largest unit and the next one, `1 h 2 min`, `45 s`."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else _number(value, "duration")
    sign = "-" if seconds < 0 else ""
    left = round(abs(seconds))
    for index, (unit, size) in enumerate(_UNITS):
        if left >= size or unit == "s":
            parts = [f"{left // size} {unit}"]
            if index + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[index + 1]
                if (amount := left % size // next_size) > 0:
                    parts.append(f"{amount} {next_unit}")
            return sign + " ".join(parts)
    raise AssertionError("unreachable: the last unit always matches")


def localtime(value: Any, fmt: str = "%H:%M") -> str:
    """A time in the bridge's time zone: epoch seconds or milliseconds, ISO 8601 text, or a datetime.

    ISO text without a zone (Tasmota's `Time`) is taken as local time already.
    """
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
    return moment.astimezone().strftime(fmt)


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


FILTERS: dict[str, Callable[..., str]] = {
    "duration": duration,
    "localtime": localtime,
    "number": number,
    "emoji": emoji,
}

"""The value types every section of the config uses: durations, times of day, paths relative to
the config file, and the strict base model that turns an unknown key into an error."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)


def _relative_to_config(path: Path, info: ValidationInfo) -> Path:
    """Relative paths in a config file are relative to that file, not to the working directory."""
    base = (info.context or {}).get("base_dir")
    return path if path.is_absolute() or base is None else Path(base) / path


#: A file path written in a config file.
ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """`2s`, `10m`, `1.5h`, `7d`, `500ms` or a plain number of seconds -> seconds as a float."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '2s', '10m', '1h', '7d'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    raise ValueError(f"{value!r} is not a duration: write a number of seconds or e.g. '500ms', '2s', '10m', '1h', '7d'")


def format_duration(seconds: float) -> str:
    """The short form `parse_duration` reads: 90 -> '90s', 600 -> '10m', 0.25 -> '250ms'."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s" if seconds >= 1 else f"{seconds * 1000:g}ms"


#: Seconds, written in the config as `2s`, `10m`, `1h`, `7d` or a plain number.
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, allow_inf_nan=False)]
#: The same, where zero is allowed (a pacing gap of 0 turns it off).
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, allow_inf_nan=False)]


class Strict(BaseModel):
    # Unknown keys are errors: a typo such as `tempalte:` must not silently do nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


_CLOCK_TIME = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?\s*$")


def parse_clock_time(value: object) -> object:
    """`"22:30"` or `"06:59:30"` -> a `datetime.time` on the wall clock of the bridge's time zone."""
    if isinstance(value, time):
        return value
    match = _CLOCK_TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time of day: write it as HH:MM (24 h), e.g. '22:30' or '07:00'")
    hour, minute, second = match.groups()
    return time(int(hour), int(minute), int(second or 0))


#: A time of day, written `HH:MM` or `HH:MM:SS`.
ClockTime = Annotated[time, BeforeValidator(parse_clock_time)]

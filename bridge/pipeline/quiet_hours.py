"""Quiet hours: when each room's `normal` deliveries wait, and when they are released (pure).

A room's window (`rooms.<key>.quiet_hours`, else `pacing.quiet_hours`) is a span of the wall
clock in the bridge's time zone (`TZ`, read by the C library, so an IANA name such as
`Asia/Shanghai` or a POSIX rule works): `from` to `to`, crossing midnight when `from` is later.
Whether a moment is quiet is decided on the wall clock itself, so daylight saving time needs no
special case: on the night clocks go forward a window ending at 02:30 ends at 03:00 (the first
wall time not inside it), and on the night they go back a window is as long as the clock says.

Inside the window a room's `normal` deliveries are not claimed (`priority: high` ones are); at
its end those that were due inside it go out folded into one digest (`then: digest`), or, with
`then: drop`, each ends `dropped` as soon as it is due inside the window. Times are epoch seconds.
"""

from __future__ import annotations

import time as clock
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bridge.config.models import PacingSettings
from bridge.config.rooms import QuietHoursSettings, RoomSettings

#: When no boundary could be found ahead (it cannot happen for a valid window), look again this soon.
RECHECK_SECONDS = 3600.0
#: Boundaries are found to this precision (seconds).
PRECISION_SECONDS = 0.5


def wall_time(ts: float) -> time:
    """The time of day on the bridge's wall clock at `ts`."""
    local = clock.localtime(ts)
    return time(local.tm_hour, local.tm_min, local.tm_sec)


def inside(window: QuietHoursSettings, ts: float) -> bool:
    t = wall_time(ts)
    if window.start < window.end:
        return window.start <= t < window.end
    return t >= window.start or t < window.end


def _local_timestamp(day: date, at: time) -> float:
    """The moment the wall clock shows `at` on `day` (the C library's answer inside a DST gap or overlap)."""
    return clock.mktime((day.year, day.month, day.day, at.hour, at.minute, at.second, 0, 0, -1))


def _boundaries(window: QuietHoursSettings, now: float) -> list[float]:
    """The moments around `now` at which the wall clock shows `from` or `to`, in order."""
    today = datetime.fromtimestamp(now).date()
    return sorted(_local_timestamp(today + timedelta(days=offset), at)
                  for offset in (-2, -1, 0, 1, 2) for at in (window.start, window.end))


def next_change(window: QuietHoursSettings, now: float) -> float:
    """The first moment after `now` at which the window starts or ends."""
    quiet = inside(window, now)
    for candidate in (b for b in _boundaries(window, now) if b > now):
        if inside(window, candidate) == quiet:
            continue  # the wall clock skipped or repeated that time: not a change there
        low, high = now, candidate  # the change is in (low, high]: find it (the C library may be off by the gap)
        while high - low > PRECISION_SECONDS:
            middle = (low + high) / 2
            low, high = (middle, high) if inside(window, middle) == quiet else (low, middle)
        return high
    return now + RECHECK_SECONDS


def last_end(window: QuietHoursSettings, now: float) -> float | None:
    """When the window last ended at or before `now` (None: it has not, in the last two days)."""
    ends = [b for b in _boundaries(window, now) if b <= now and not inside(window, b) and inside(window, b - 1)]
    return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class QuietNow:
    """What quiet hours mean for the worker at one moment."""

    #: Rooms inside their window: their normal deliveries are not claimed.
    held: tuple[str, ...] = ()
    #: Of those, the rooms whose window says `then: drop`, with the window as the report names it.
    dropping: Mapping[str, str] = field(default_factory=dict)
    #: Rooms outside their window (`then: digest`) -> when it last ended: what was due before then was held.
    released: Mapping[str, float] = field(default_factory=dict)
    #: When the next window starts or ends (None: no room has quiet hours).
    next_change: float | None = None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Each room's quiet window, compiled from the config."""

    windows: Mapping[str, QuietHoursSettings] = field(default_factory=dict)

    @classmethod
    def of(cls, rooms: Mapping[str, RoomSettings], pacing: PacingSettings) -> QuietHours:
        windows: dict[str, QuietHoursSettings] = {}
        for key, room in rooms.items():
            window = pacing.quiet_hours if room.quiet_hours is None else room.quiet_hours
            if window:
                windows[key] = window
        return cls(windows)

    def __bool__(self) -> bool:
        return bool(self.windows)

    def at(self, now: float) -> QuietNow:
        if not self.windows:
            return QuietNow()
        held, dropping, released = [], {}, {}
        for key, window in self.windows.items():
            if inside(window, now):
                held.append(key)
                if window.then == "drop":
                    dropping[key] = window.describe()
            elif window.then == "digest":
                ended = last_end(window, now)
                if ended is not None:
                    released[key] = ended
        return QuietNow(tuple(held), dropping, released,
                        min(next_change(window, now) for window in self.windows.values()))

    def held_rooms(self, now: float) -> tuple[str, ...]:
        """The rooms inside their window at `now`."""
        return tuple(key for key, window in self.windows.items() if inside(window, now))

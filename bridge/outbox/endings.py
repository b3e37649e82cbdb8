"""The sentences of the endings the outbox decides inside its own transactions (pure).

Expiry, a second doubt, a send cut off by a stop, a `for` condition that ended before its time
and a delivery dropped by quiet hours are decided where the rows are, in one
transaction with the state they change, so that a crash cannot split rule from record. The words
a person reads in the report are written here, beside `bridge.admission`'s, not in the SQL module.
"""

from __future__ import annotations

from bridge.config.fields import format_duration

#: Why a row that was being sent when the bridge stopped is in doubt (recovered at start-up).
STOPPED_DURING_SEND = "the bridge stopped during the send"


def expired(*, waited: float, attempts: int, last_error: str | None) -> str:
    """A delivery not delivered within its `expire_after`."""
    error = f"not delivered within {format_duration(waited)} (expire_after) after {attempts} attempt(s)"
    return f"{error}; last error: {last_error}" if last_error else error


def in_doubt_twice(last_error: str) -> str:
    """A delivery in doubt a second time: it is not sent a third time."""
    return (f"in doubt twice (last: {last_error}): WeChat may show it once, twice or not at all; not sent a "
            "third time")


def span(seconds: float) -> str:
    """A time span as a person says it: `2 s`, `3 min 5 s`, `2 h 10 min`."""
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole // 60, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def condition_ended(*, held: float, hold: float) -> str:
    """A `for` timer cancelled: `when` stopped holding before the hold time was up."""
    return f"condition ended after {span(held)} (for: {format_duration(hold)})"


def fired_late(*, late: float) -> str:
    """The note of a `for` timer that ran out while the bridge was not running."""
    return f"the hold time ran out while the bridge was stopped; sent at start-up, {span(late)} late"


def silent_while_stopped(*, late: float) -> str:
    """The note of a silence that began while the bridge was not running."""
    return f"the route went silent while the bridge was stopped; sent at start-up, {span(late)} late"


def quiet_hours(window: str) -> str:
    """A normal delivery due inside its room's quiet window, under `then: drop`."""
    return f"quiet hours ({window})"

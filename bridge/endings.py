"""The sentences of the endings the outbox decides inside its own transactions (pure).

Expiry, a second doubt and a send cut off by a stop are decided where the rows are, in one
transaction with the state they change, so that a crash cannot split rule from record. The words
a person reads in the report are written here, beside `bridge.admission`'s, not in the SQL module.
"""

from __future__ import annotations

from bridge.config import format_duration

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

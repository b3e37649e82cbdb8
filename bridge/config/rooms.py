"""The `rooms` and `contacts` sections: where the bridge may write, who it may @-mention, which
rooms it listens to, and each room's quiet hours."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from bridge.config.fields import ClockTime, Strict


class ListenSettings(Strict):
    """Which messages of a listening room are published on `<base>/rooms/<key>/message`."""

    match: str | None = None  # a regular expression the text must contain a match of
    mentioned_only: bool = False  # only messages that @-mention the bridge's account

    @field_validator("match")
    @classmethod
    def _match_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class QuietHoursSettings(Strict):
    """A room's quiet window: `normal` deliveries due inside it wait, and at its end go out as one
    digest (`then: digest`) or end `dropped` at once (`then: drop`). `priority: high` ignores it.

    The times are the wall clock of the bridge's time zone (`TZ`); `from` later than `to` crosses
    midnight. A window is [from, to): a delivery due at `to` exactly is not held.
    """

    start: ClockTime = Field(alias="from")
    end: ClockTime = Field(alias="to")
    then: Literal["digest", "drop"] = "digest"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursSettings:
        if self.start == self.end:
            raise ValueError(f"the quiet window from {self.start:%H:%M} to {self.end:%H:%M} has no length: "
                             "give two different times (from later than to crosses midnight)")
        return self

    def describe(self) -> str:
        """`22:30-07:00`, with seconds only where they were given."""
        def clock(t: time) -> str:
            return f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}"
        return f"{clock(self.start)}-{clock(self.end)}"


def _quiet_switch(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """`quiet_hours: false` switches a room's window off; validated as a window otherwise. Not a
    union with `Literal[False]`: pydantic would report every mistake in a window twice, once per member."""
    return False if value is False else handler(value)


#: A person's name as `ilink login --name` binds it: a file name and a topic level, so plain.
ILINK_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class RoomSettings(Strict):
    """A room the bridge may write to: a group chat found by exact topic (name) or by id, through a
    gateway; or a person's chat with the official bot (`ilink`: the name they were bound as)."""

    topic: Annotated[str, Field(min_length=1)] | None = None
    id: Annotated[str, Field(min_length=1)] | None = None
    ilink: Annotated[str, Field(pattern=ILINK_NAME)] | None = None
    #: False: only routes may write here, not `<base>/send/<key>` or the `send` request.
    allow_direct: bool = True
    #: Publish what people write in this room to MQTT (`true`, or filters).
    listen: bool | ListenSettings = False
    #: This room's quiet window (`pacing.quiet_hours` when unset); `false`: none, whatever the default
    #: (then the value is False, which `QuietHours.of` reads as "no window").
    quiet_hours: Annotated[QuietHoursSettings | None, WrapValidator(_quiet_switch)] = None

    @property
    def listening(self) -> ListenSettings | None:
        if self.listen is True:
            return ListenSettings()
        return self.listen or None

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> RoomSettings:
        if [self.topic, self.id, self.ilink].count(None) != 2:
            raise ValueError("give exactly one of 'topic' (a group's name), 'id' (a group's id) or 'ilink' "
                             "(a person bound to the official bot)")
        return self

    @property
    def via_gateway(self) -> bool:
        """A group chat, reached through a puppet-service gateway (not the official bot)."""
        return self.ilink is None

    def describe(self) -> str:
        if self.ilink is not None:
            return f"official bot for {self.ilink!r}"
        return f"id {self.id!r}" if self.id is not None else f"topic {self.topic!r}"


class ContactSettings(Strict):
    """A person the bridge may @-mention, found by exact name or id among a room's members."""

    name: Annotated[str, Field(min_length=1)] | None = None
    id: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> ContactSettings:
        if (self.name is None) == (self.id is None):
            raise ValueError("give exactly one of 'name' or 'id'")
        return self

    def describe(self) -> str:
        return f"id {self.id!r}" if self.id is not None else f"name {self.name!r}"

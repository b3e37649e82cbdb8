"""Whether each outside connection (the broker, the WeChat gateway) is up, since when, and its last error.

The adapters (`mqtt.py`, `wechat.py`) say when their connection comes up or goes down; the status
page and the metrics read it. Plain state, no I/O: a `Link` is a holder the root creates and hands
to the adapter, so neither reader needs to know the adapter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkState:
    up: bool
    #: When it last came up or went down (epoch seconds).
    since: float
    #: Why it last went down, in words; kept after it is up again, as "the last error".
    error: str | None = None
    #: How many times it came up again after the first time.
    reconnects: int = 0


class Link:
    def __init__(self, name: str, *, on_change: Callable[[str, LinkState], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._on_change = on_change
        self._clock = clock
        self._ever_up = False
        self.state = LinkState(False, clock())

    def up(self) -> None:
        if self.state.up:
            return
        reconnects = self.state.reconnects + (1 if self._ever_up else 0)
        self._ever_up = True
        self._set(LinkState(True, self._clock(), self.state.error, reconnects))

    def down(self, error: str | None) -> None:
        if self.state.up or error != self.state.error:
            since = self._clock() if self.state.up else self.state.since
            self._set(LinkState(False, since, error or self.state.error, self.state.reconnects))

    def _set(self, state: LinkState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(self.name, state)

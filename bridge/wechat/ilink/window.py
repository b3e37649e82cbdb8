"""When the bot may write to one person: the reply window, the budget, rate limits, stale sessions (pure).

No I/O and no clock of its own: every method takes `now` (epoch seconds), so a test is a list of
calls with numbers. What iLink does, and what this follows:

- The bot may write within ~24 h of the person's last message (maintainers, Tencent/openclaw-weixin
  #156, #185; users report 11-15 h, #309), about 10 messages per message the person sends (its
  `context_token`; #81, #202). Both are our estimate: the server decides.
- A refusal (`ret=-2`, not a rate limit) closes the window until the person writes again, whatever
  the estimate says: the server is trusted over the estimate.
- A rate limit (`ret=-2` "rate limited", #142, #270: minutes) waits, growing from
  `rate_limit_first` by doubling up to `rate_limit_max`; an accepted send resets it.
- errcode -14 pauses every call for `stale_pause` (one hour in src/api/session-guard.ts).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bridge.errors import SendError
from bridge.wechat.ilink.errors import RateLimited, SessionExpired, WindowClosed


class Gate(enum.Enum):
    """Why the bot may or may not write now, in the order `remaining` checks."""

    PAUSED = "paused"  # errcode -14: no call at all until `retry_at`
    RATE_LIMITED = "rate_limited"  # the server asked us to slow down: wait until `retry_at`
    NEVER = "never"  # the person never wrote to the bot: nothing may be sent yet
    REFUSED = "refused"  # the server refused (ret=-2): closed until the person writes again
    WINDOW_CLOSED = "window_closed"  # our estimate: the last message is too old
    BUDGET_SPENT = "budget_spent"  # our estimate: the last message's budget is used up
    OPEN = "open"


@dataclass(kw_only=True, frozen=True, slots=True)
class WindowPolicy:
    """The estimates; the config's `window`, `per_message` and `stale_pause` end up here."""

    window_seconds: float = 24 * 3600.0
    per_message: int = 10
    stale_pause_seconds: float = 3600.0
    #: Rate limits upstream last minutes (#142, #270): start at half a minute, double, stop at 10 min.
    rate_limit_first_seconds: float = 30.0
    rate_limit_max_seconds: float = 600.0


@dataclass(kw_only=True, frozen=True, slots=True)
class Remaining:
    """What one person's window allows at one moment."""

    gate: Gate
    budget: int  # sends left on the current context_token (0 unless OPEN, or waiting out a pause)
    window_until: float | None  # when our estimate of the window ends; None before any message
    retry_at: float | None  # PAUSED / RATE_LIMITED: when to try again
    context_token: str | None

    @property
    def open(self) -> bool:
        return self.gate is Gate.OPEN


class Window:
    """One person's window and budget; the owner persists `context_token`, `last_inbound_at`, `spent`."""

    def __init__(self, *, policy: WindowPolicy, context_token: str | None = None,
                 last_inbound_at: float | None = None, spent: int = 0) -> None:
        self.policy = policy
        self.context_token = context_token
        self.last_inbound_at = last_inbound_at
        self.spent = spent
        self._refused = False
        self._rate_limited_until: float | None = None
        self._rate_limit_strikes = 0
        self._paused_until: float | None = None

    def record_inbound(self, context_token: str | None, at: float) -> None:
        """The person wrote: a new window, a new budget, and any refusal forgotten."""
        if context_token:
            self.context_token = context_token
        self.last_inbound_at = at if self.last_inbound_at is None else max(self.last_inbound_at, at)
        self.spent = 0
        self._refused = False

    def remaining(self, now: float) -> Remaining:
        until = None if self.last_inbound_at is None else self.last_inbound_at + self.policy.window_seconds
        budget = max(self.policy.per_message - self.spent, 0)

        gate, retry_at = self._gate(now, until, budget)
        return Remaining(gate=gate, budget=budget if gate in (Gate.OPEN, Gate.RATE_LIMITED) else 0,
                         window_until=until, retry_at=retry_at, context_token=self.context_token)

    def _gate(self, now: float, until: float | None, budget: int) -> tuple[Gate, float | None]:
        if self._paused_until is not None and now < self._paused_until:
            return Gate.PAUSED, self._paused_until
        if self.last_inbound_at is None or self.context_token is None:
            gate = Gate.NEVER
        elif self._refused:
            gate = Gate.REFUSED
        elif until is not None and now >= until:
            gate = Gate.WINDOW_CLOSED
        elif budget <= 0:
            gate = Gate.BUDGET_SPENT
        elif self._rate_limited_until is not None and now < self._rate_limited_until:
            return Gate.RATE_LIMITED, self._rate_limited_until
        else:
            gate = Gate.OPEN
        return gate, None

    def spend(self, n: int = 1) -> None:
        """`n` sends were accepted (ret 0): they cost budget, and the server is no longer limiting us."""
        self.spent += n
        self._rate_limit_strikes = 0
        self._rate_limited_until = None

    def refused(self) -> None:
        """The server answered ret=-2 (not a rate limit): closed until the person writes again."""
        self._refused = True

    def rate_limited(self, now: float) -> float:
        """The server answered "rate limited": when to try again (growing, capped)."""
        delay = min(self.policy.rate_limit_first_seconds * 2**self._rate_limit_strikes,
                    self.policy.rate_limit_max_seconds)
        self._rate_limit_strikes += 1
        self._rate_limited_until = now + delay
        return self._rate_limited_until

    def session_expired(self, now: float) -> float:
        """errcode -14: no call until the returned time (then one try tells whether a login is needed)."""
        self._paused_until = now + self.policy.stale_pause_seconds
        return self._paused_until

    def learn(self, error: SendError, now: float) -> None:
        """What a refused send tells about the person's window (the server is trusted over the estimate).

        Other errors (in doubt, unreachable) say nothing about the window and change nothing.
        """
        if isinstance(error, WindowClosed):
            self.refused()
        elif isinstance(error, RateLimited):
            self.rate_limited(now)
        elif isinstance(error, SessionExpired):
            self.session_expired(now)

    def session_restored(self) -> None:
        """A call went through again (or a new login): the pause is over."""
        self._paused_until = None

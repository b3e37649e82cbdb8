"""iLink's answers as our errors, decided here once (`raise_for_answer`, `api.py`'s except ladder).

    SendError                          (bridge.errors)
    ├── GatewayUnavailable             the message waits; no attempt is counted
    │   ├── IlinkUnreachable           the request never left (DNS, connection refused, connect timeout)
    │   ├── WindowClosed               ret=-2 without "rate limit": refused, definitely not delivered;
    │   │                              waits until the person writes to the bot again
    │   ├── RateLimited                ret=-2 "rate limited": refused, not delivered; back off, then again
    │   ├── SessionExpired             errcode (or ret) -14: the token is stale; pause, then a new QR login
    │   └── TokenRefused               (bridge.errors)
    │       └── IlinkTokenRefused      HTTP 401/403: the server does not take the token at all
    ├── IlinkRefused                   any other ret/errcode != 0, or HTTP 4xx: permanent for this request
    └── SendInDoubt                    (bridge.errors)
        └── IlinkInDoubt               the request left and no answer came (timeout, cut off, HTTP 5xx
                                       on a send): the message may have reached the person
    BridgeError
    └── LoginFailed                    a QR login ended without a bot (`reason` says which way)

Every answered refusal carries `ret`, `errcode` and `errmsg` exactly as iLink sent them (`Answer`);
callers decide on the class and those fields, never on the sentence, which is for people.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bridge.errors import BridgeError, GatewayUnavailable, SendError, SendInDoubt, TokenRefused

#: errcode (Tencent's client also checks ret) meaning "session timed out": `STALE_TOKEN_ERRCODE`
#: in src/api/session-guard.ts.
STALE_TOKEN_ERRCODE = -14
#: ret of a sendmessage the server refused: the window or the budget is gone, or a rate limit
#: (then errmsg says "rate limited"; upstream issues #142, #270, #81, #202).
REFUSED_RET = -2


@dataclass(frozen=True, slots=True)
class Answer:
    """The status fields of one iLink JSON answer, as sent (absent fields are None)."""

    ret: int | None
    errcode: int | None
    errmsg: str | None

    @property
    def ok(self) -> bool:
        # Tencent's client: `(ret !== undefined && ret !== 0) || (errcode !== undefined && errcode !== 0)`
        # is an error; an answer without either ({} from sendmessage) is a success.
        return self.ret in (None, 0) and self.errcode in (None, 0)

    @property
    def is_rate_limit(self) -> bool:
        # The server's own field, not one of our sentences: errmsg "rate limited" is how iLink
        # tells a rate limit from a closed window, both being ret=-2.
        return "rate limit" in (self.errmsg or "").lower()


class _Answered:
    """Mixin: the answer's fields on the error, for callers that branch on them."""

    answer: Answer

    @property
    def ret(self) -> int | None:
        return self.answer.ret

    @property
    def errcode(self) -> int | None:
        return self.answer.errcode

    @property
    def errmsg(self) -> str | None:
        return self.answer.errmsg


def _describe(endpoint: str, answer: Answer) -> str:
    return f"iLink {endpoint} answered ret={answer.ret} errcode={answer.errcode} errmsg={answer.errmsg!r}"


class IlinkUnreachable(GatewayUnavailable):
    """iLink could not be reached: the request never left, so nothing can have been delivered."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class WindowClosed(_Answered, GatewayUnavailable):
    """ret=-2 (not a rate limit): the person's reply window or the budget of their last message is gone.

    Definitely not delivered. Nothing helps until the person writes to the bot again.
    """

    def __init__(self, *, endpoint: str, answer: Answer) -> None:
        super().__init__(_describe(endpoint, answer))
        self.endpoint = endpoint
        self.answer = answer


class RateLimited(_Answered, GatewayUnavailable):
    """ret=-2 with errmsg "rate limited": not delivered; the same send may go after a pause."""

    def __init__(self, *, endpoint: str, answer: Answer) -> None:
        super().__init__(_describe(endpoint, answer))
        self.endpoint = endpoint
        self.answer = answer


class SessionExpired(_Answered, GatewayUnavailable):
    """errcode -14: the bot's session timed out. Tencent's client pauses every call for an hour."""

    def __init__(self, *, endpoint: str, answer: Answer) -> None:
        super().__init__(_describe(endpoint, answer))
        self.endpoint = endpoint
        self.answer = answer


class IlinkTokenRefused(TokenRefused):
    """HTTP 401 or 403: the server does not take the bot token (or its headers) at all."""

    def __init__(self, message: str, *, endpoint: str, status: int) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class IlinkRefused(_Answered, SendError):
    """Any other refusal: sending the same request again would be refused the same way.

    `status` is the HTTP status (200 when the refusal is in the JSON answer).
    """

    def __init__(self, message: str, *, endpoint: str, answer: Answer, status: int = 200) -> None:
        super().__init__(message, transient=False)
        self.endpoint = endpoint
        self.answer = answer
        self.status = status


class IlinkInDoubt(SendInDoubt):
    """The request left and no usable answer came back: the person may have the message.

    `status` is the HTTP status when one came (a 5xx from a proxy), None after a timeout or a cut;
    `timed_out` tells our own timeout from a cut connection (a long poll reads only the first as "nothing new").
    """

    def __init__(self, message: str, *, endpoint: str, status: int | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.timed_out = timed_out


class LoginFailure(enum.Enum):
    """How a QR login ended without a bot."""

    EXPIRED = "expired"  # the QR code expired more often than the login allows
    VERIFY_BLOCKED = "verify_code_blocked"  # wrong numbers entered too often
    TIMED_OUT = "timed_out"  # nobody finished the login before the deadline
    INCOMPLETE = "incomplete"  # `confirmed` without `ilink_bot_id` or `bot_token`: nothing to store
    QR_UNAVAILABLE = "qr_unavailable"  # the QR code itself could not be fetched


class LoginFailed(BridgeError):
    """A QR login ended without a bot; `reason` is the field to branch on, the message is for people."""

    def __init__(self, message: str, *, reason: LoginFailure) -> None:
        super().__init__(message)
        self.reason = reason


def raise_for_answer(endpoint: str, answer: Answer) -> None:
    """Raise the error an answer means; return when it is a success."""
    if answer.ok:
        return
    if STALE_TOKEN_ERRCODE in (answer.errcode, answer.ret):
        raise SessionExpired(endpoint=endpoint, answer=answer)
    if answer.ret == REFUSED_RET:
        if answer.is_rate_limit:
            raise RateLimited(endpoint=endpoint, answer=answer)
        raise WindowClosed(endpoint=endpoint, answer=answer)
    raise IlinkRefused(_describe(endpoint, answer), endpoint=endpoint, answer=answer)

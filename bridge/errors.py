"""Every error the bridge raises on purpose, in one tree.

    BridgeError
    ├── ConfigError          a config file is wrong; carries every problem found (file, key path, line)
    ├── TopicFilterError     a topic filter or base topic MQTT would refuse (also a ValueError, so
    │                        pydantic validators report it); config.py turns it into a ConfigProblem
    ├── StartupError         the bridge cannot start (the HTTP port is taken, say)
    ├── RequestError         a `<base>/bridge/request/<name>` cannot be served; its message is the
    │                        response's `error`
    ├── EventRejected        this one event cannot be delivered as given; never retried
    │   ├── PayloadError     the payload cannot be decoded (encoding, size)
    │   ├── TemplateError    a `when` expression or a template failed on this payload
    │   │   └── TemplateLimitError  raised inside a render past a loop, width or size limit;
    │   │                           templates.py reports it as a TemplateError of the template
    │   └── RoomNotAvailable the target room is unknown, unresolved or ambiguous
    ├── SendError            WeChat did not take a message; `transient` says whether a retry may help
    │   ├── GatewayUnavailable  not connected or not logged in: the message waits, no attempt is counted
    │   │   ├── TokenRefused     the gateway does not take our token
    │   │   └── EventStreamTaken another client holds the gateway's one event stream
    │   ├── SendInDoubt      the send timed out or was cut off: it may have reached WeChat
    │   └── Unsupported      the transport does not do this at all (UNIMPLEMENTED): never retried;
    │                        `capability` says what it lacks, the delivery goes out without it
    ├── OutboxError          the outbox database cannot be opened, read or written
    ├── FallbackError        Apprise is missing, or cannot use a fallback URL (`bridge.fallback.apprise`)
    └── BrokerUnavailable    a one-shot MQTT client (the `health` command) cannot reach the broker

`EventRejected` ends in a `rejected` delivery report whose `error` is `str(exc)`, so the
messages are written for the person reading that report, not for a developer.
"""

from __future__ import annotations

from dataclasses import dataclass


class BridgeError(Exception):
    """Base of every error raised on purpose by the bridge."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in a config file, located as precisely as the YAML allows."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(BridgeError):
    """The configuration cannot be used; `problems` lists everything found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        # Grouped by file (in the order the files were read), then by line: the order of reading.
        files = {p.file: index for index, p in reversed(list(enumerate(problems)))}
        self.problems = sorted(problems, key=lambda p: (files[p.file], p.line or 0))
        super().__init__("\n".join(str(p) for p in self.problems))


class TopicFilterError(BridgeError, ValueError):
    """A topic filter or base topic that MQTT would refuse, with a sentence saying why."""


class StartupError(BridgeError):
    """Something the bridge needs at start-up is not available; the message says what."""


class RequestError(BridgeError):
    """The request cannot be served; the message goes to the requester as `error`."""


class EventRejected(BridgeError):
    """The event is wrong as given; sending it again would fail the same way."""


class PayloadError(EventRejected):
    """The MQTT payload cannot be turned into text or JSON."""


class TemplateError(EventRejected):
    """A `when` expression or a template raised while rendering this event."""


class TemplateLimitError(TemplateError):
    """A template went past one of the limits of templates.py (loop iterations, widths, sizes).

    Raised from inside Jinja's render, where the sandbox's own errors come from too.
    """


class RoomNotAvailable(EventRejected):
    """The room key is unknown, or the room it names cannot be found in WeChat right now."""


class SendError(BridgeError):
    """WeChat (through the gateway) did not accept a message.

    `transient`: whether trying again may help. `cause`: why, without what was being done (the
    message says both), for a caller that words its own "cannot ...".
    """

    def __init__(self, message: str, *, transient: bool, cause: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.cause = cause if cause is not None else message


class GatewayUnavailable(SendError):
    """The gateway cannot be reached or WeChat is not logged in; the message waits for the reconnect.

    Raised only when the request never left: a send that was under way is `SendInDoubt`.
    """

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message, transient=True, cause=cause)


class TokenRefused(GatewayUnavailable):
    """The gateway does not take our token (UNAUTHENTICATED): nothing works until the tokens agree."""


class EventStreamTaken(GatewayUnavailable):
    """The gateway serves one event stream at a time and another client holds it (ALREADY_EXISTS)."""


class SendInDoubt(SendError):
    """A send timed out or its connection broke: WeChat may have the message, or may not.

    Never retried on the same connection (the link drops it); the outbox sends it again at most
    once, after a fresh connection and login (see docs/delivery-guarantees.md, "In doubt").
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class Unsupported(SendError):
    """The transport does not implement what was asked (a gateway's gRPC UNIMPLEMENTED): permanent.

    `capability` is the `bridge.chat.Capabilities` field it lacks (`files`, `mentions`), so the
    client can remember it for the connection and the sender can go on without it.
    """

    def __init__(self, message: str, *, capability: str, cause: str | None = None) -> None:
        super().__init__(message, transient=False, cause=cause)
        self.capability = capability


class OutboxError(BridgeError):
    """The SQLite outbox failed (disk full, file not writable, used by another bridge)."""


class FallbackError(BridgeError):
    """The fallback way out (Apprise) cannot be used: the library is missing or a URL is wrong.

    The message never holds a URL's secrets: only its place in `fallback.urls` and its scheme.
    """


class BrokerUnavailable(BridgeError):
    """The MQTT broker cannot be reached or refused the connection (one-shot clients only;
    the bridge's own session reconnects instead)."""

"""What the stages count: the `Metrics` interface, which does nothing by default.

Stages are handed a `Metrics` and call it at the few points where something countable happens
(a report published, a send made, a login change); the default does nothing, so stages and their
unit tests need no registry, and no stage loads prometheus_client. `bridge.prometheus` is the one
implementation that records, for `GET /metrics`.
"""

from __future__ import annotations

from bridge.chat import LoginStateName
from bridge.events import DeliveryReport
from bridge.links import LinkState


class Metrics:
    """Does nothing: what a stage gets when nobody scrapes."""

    def delivery(self, report: DeliveryReport) -> None:
        """One delivery report published (each event x room gets exactly one)."""

    def received(self, route: str | None) -> None:
        """An MQTT message one route acted on (None: a direct send)."""

    def rejected(self, reason: str) -> None:
        """An event refused at intake, by reason class (`bad_input`, `unknown_room`, ...)."""

    def sent(self, seconds: float, result: str) -> None:
        """One send to WeChat: `ok`, `failed` or `in_doubt`, and how long it took."""

    def digest(self, items: int) -> None:
        """A digest message sent, folding `items` deliveries."""

    def login(self, state: LoginStateName, *, logged_out: bool) -> None:
        """The account's state changed; `logged_out`: it was logged in before."""

    def link(self, name: str, state: LinkState) -> None:
        """The broker's or the gateway's connection came up or went down."""

    def puppet_error(self) -> None:
        """The puppet behind the gateway reported an error of its own; repeats count too."""

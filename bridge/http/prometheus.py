"""Counters and gauges for Prometheus: the only module that imports prometheus_client.

`PrometheusMetrics` implements `bridge.metrics.Metrics`. It keeps its own registry (not the
library's global one: no module-level state, and two bridges in one test process do not collide)
and renders it in the text exposition format for `GET /metrics`.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bridge.chat import LoginStateName
from bridge.events import DeliveryReport
from bridge.links import LinkState
from bridge.metrics import Metrics
from bridge.outbox.records import OutboxStats

PREFIX = "wechat_bridge"
#: Send latency buckets: a text to a healthy gateway takes tens of milliseconds, an image upload
#: seconds; `wechaty.send_timeout` (default 30 s) caps the top.
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Items folded into one digest: `pacing.digest.threshold` is at least 2, `max_items` at most 100.
DIGEST_BUCKETS = (2, 3, 5, 10, 20, 50, 100)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class PrometheusMetrics(Metrics):
    def __init__(self) -> None:
        # No `*_created` series (prometheus_client's default: the creation time of every counter and
        # histogram): PromQL's rate() and increase() do not need them, and they doubled the page
        # with series the README does not list. The switch is the library's own, process-wide.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client 0.26
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._deliveries = Counter(f"{PREFIX}_deliveries", "Delivery reports published, by status, room key "
                                   "and route (route is empty for direct sends)", ["status", "room", "route"],
                                   registry=registry)
        self._received = Counter(f"{PREFIX}_events_received", "MQTT messages a route acted on, by route "
                                 "(empty: direct sends)", ["route"], registry=registry)
        self._rejected = Counter(f"{PREFIX}_events_rejected", "Events refused at intake, by reason class",
                                 ["reason"], registry=registry)
        self._sends = Counter(f"{PREFIX}_wechat_sends", "Sends to WeChat, by result (ok, failed, in_doubt)",
                              ["result"], registry=registry)
        self._send_seconds = Histogram(f"{PREFIX}_wechat_send_duration_seconds", "Time one send to WeChat took",
                                       buckets=SEND_BUCKETS, registry=registry)
        self._digests = Counter(f"{PREFIX}_digests_sent", "Digest messages sent", registry=registry)
        self._digest_items = Histogram(f"{PREFIX}_digest_items", "Deliveries folded into one digest",
                                       buckets=DIGEST_BUCKETS, registry=registry)
        self._login = Gauge(f"{PREFIX}_wechat_login_state", "1 for the WeChat account's current state, 0 for "
                            "the others", ["state"], registry=registry)
        self._logouts = Counter(f"{PREFIX}_wechat_logouts", "Times the account went from logged in to not",
                                registry=registry)
        self._connected = {name: Gauge(f"{PREFIX}_{name}_connected", f"1 while connected to the {what}",
                                       registry=registry)
                           for name, what in (("broker", "MQTT broker"), ("gateway", "WeChat gateway"))}
        self._reconnects = {name: Counter(f"{PREFIX}_{name}_reconnects", f"Times the {what} connection came "
                                          "back after it was first up", registry=registry)
                            for name, what in (("broker", "MQTT broker"), ("gateway", "WeChat gateway"))}
        # Repeats count: the log says a reason once per connection, so this is where a puppet that
        # keeps failing (wechat4u offline: about 160 a minute) shows.
        self._puppet_errors = Counter(f"{PREFIX}_puppet_errors", "Errors the puppet behind the gateway reported "
                                      "(its own, not the connection's), repeats included", registry=registry)
        self._depth = Gauge(f"{PREFIX}_queue_depth", "Deliveries not finished yet", registry=registry)
        self._oldest = Gauge(f"{PREFIX}_queue_oldest_age_seconds", "Age of the oldest unfinished delivery "
                             "(0 when none)", registry=registry)
        self._in_doubt = Gauge(f"{PREFIX}_queue_in_doubt", "Unfinished deliveries an earlier send of which "
                               "may have reached WeChat", registry=registry)
        self._unreported = Gauge(f"{PREFIX}_queue_unreported", "Finished deliveries whose report has not "
                                 "reached the broker yet", registry=registry)
        for state in get_args(LoginStateName):
            self._login.labels(state).set(1 if state == "connecting" else 0)

    def delivery(self, report: DeliveryReport) -> None:
        self._deliveries.labels(report.status, report.room.key, report.route or "").inc()

    def received(self, route: str | None) -> None:
        self._received.labels(route or "").inc()

    def rejected(self, reason: str) -> None:
        self._rejected.labels(reason).inc()

    def sent(self, seconds: float, result: str) -> None:
        self._sends.labels(result).inc()
        self._send_seconds.observe(seconds)

    def digest(self, items: int) -> None:
        self._digests.inc()
        self._digest_items.observe(items)

    def login(self, state: LoginStateName, *, logged_out: bool) -> None:
        for name in get_args(LoginStateName):
            self._login.labels(name).set(1 if name == state else 0)
        if logged_out:
            self._logouts.inc()

    def link(self, name: str, state: LinkState) -> None:
        self._connected[name].set(1 if state.up else 0)
        if state.up and state.reconnects:
            self._reconnects[name].inc()

    def puppet_error(self) -> None:
        self._puppet_errors.inc()

    def render(self, queue: OutboxStats | None) -> bytes:
        """The exposition text; the queue gauges are read at scrape time (None: the outbox is closed)."""
        if queue is not None:
            self._depth.set(queue.depth)
            self._oldest.set(queue.oldest_age or 0.0)
            self._in_doubt.set(queue.in_doubt)
            self._unreported.set(queue.unreported)
        return generate_latest(self.registry)

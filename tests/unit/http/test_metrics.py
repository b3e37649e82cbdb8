"""What the stages' metric calls become in the exposition text, read back with prometheus_client's parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bridge.events import DeliveryReport, RoomRef
from bridge.http.prometheus import PrometheusMetrics
from bridge.links import Link
from bridge.outbox.records import OutboxStats


def values(metrics: PrometheusMetrics, queue: OutboxStats | None = None) -> dict[tuple[str, frozenset[tuple[str, str]]],
                                                                                  float]:
    text = metrics.render(queue).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_login_state_is_one_labelled_gauge_and_logouts_count() -> None:
    metrics = PrometheusMetrics()
    assert values(metrics)[("wechat_bridge_wechat_login_state", frozenset({("state", "connecting")}))] == 1
    metrics.login("logged_in", logged_out=False)
    metrics.login("logged_out", logged_out=True)
    got = values(metrics)
    assert got[("wechat_bridge_wechat_login_state", frozenset({("state", "logged_out")}))] == 1
    assert got[("wechat_bridge_wechat_login_state", frozenset({("state", "logged_in")}))] == 0
    assert got[("wechat_bridge_wechat_logouts_total", frozenset())] == 1


def test_links_count_reconnects_not_the_first_connect() -> None:
    metrics = PrometheusMetrics()
    link = Link("broker", on_change=metrics.link)
    link.up()
    assert values(metrics)[("wechat_bridge_broker_reconnects_total", frozenset())] == 0
    link.down("connection refused")
    assert values(metrics)[("wechat_bridge_broker_connected", frozenset())] == 0
    assert link.state.error == "connection refused"
    link.up()
    got = values(metrics)
    assert got[("wechat_bridge_broker_connected", frozenset())] == 1
    assert got[("wechat_bridge_broker_reconnects_total", frozenset())] == 1
    assert link.state.error == "connection refused"  # kept as the last error


def test_deliveries_digests_sends_and_the_queue() -> None:
    metrics = PrometheusMetrics()
    metrics.delivery(DeliveryReport(id="e1", status="delivered", route=None, topic="wechat/send/family",
                                    room=RoomRef("family"), error=None, ts=0.0))
    metrics.digest(4)
    metrics.sent(0.02, "ok")
    metrics.sent(31.0, "in_doubt")
    got = values(metrics, OutboxStats(depth=3, oldest_age=12.5, sending=1, in_doubt=1))
    assert got[("wechat_bridge_deliveries_total", frozenset({("status", "delivered"), ("room", "family"),
                                                             ("route", "")}))] == 1
    assert got[("wechat_bridge_digests_sent_total", frozenset())] == 1
    assert got[("wechat_bridge_digest_items_sum", frozenset())] == 4
    assert got[("wechat_bridge_wechat_sends_total", frozenset({("result", "in_doubt")}))] == 1
    assert got[("wechat_bridge_wechat_send_duration_seconds_bucket", frozenset({("le", "0.05")}))] == 1
    assert got[("wechat_bridge_queue_depth", frozenset())] == 3
    assert got[("wechat_bridge_queue_oldest_age_seconds", frozenset())] == 12.5
    assert got[("wechat_bridge_queue_in_doubt", frozenset())] == 1


def test_no_created_series_only_what_the_readme_lists() -> None:
    """prometheus_client adds a `*_created` timestamp per counter and histogram unless told not to."""
    metrics = PrometheusMetrics()
    metrics.delivery(DeliveryReport(id="e1", status="delivered", route=None, topic="wechat/send/family",
                                    room=RoomRef("family"), error=None, ts=0.0))
    metrics.sent(0.02, "ok")
    assert [name for name, _ in values(metrics) if name.endswith("_created")] == []
    assert "_created" not in metrics.render(None).decode()

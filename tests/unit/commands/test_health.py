"""How a `health_check` response becomes the `health` command's verdict and line."""

from __future__ import annotations

from bridge.commands.health import describe


def test_healthy() -> None:
    assert describe({"status": "ok", "data": {
        "healthy": True, "broker": {"connected": True},
        "wechat": {"state": "logged_in", "reason": None, "user": "Bridge Bot"}, "queue": {"depth": 2}}}) == (
        True, "healthy: WeChat logged in as Bridge Bot, broker connected, 2 queued")


def test_logged_out_is_unhealthy_and_says_why() -> None:
    assert describe({"status": "ok", "data": {
        "healthy": False, "broker": {"connected": True},
        "wechat": {"state": "logged_out", "reason": "the gateway ended the connection", "user": None},
        "queue": {"depth": 0}}, "transaction": "x"}) == (
        False, "unhealthy: WeChat logged_out (the gateway ended the connection), broker connected, 0 queued")


def test_error_envelope_is_unhealthy() -> None:
    assert describe({"status": "error", "error": "unknown request"}) == (
        False, "unhealthy: the bridge answered with an error: unknown request")

"""The doctor's verdicts on login states it cannot easily be shown against the mock gateway."""

from __future__ import annotations

from bridge.chat import LoginState
from bridge.commands.doctor import BridgeSeen, _login_finding, _login_from_bridge


def test_a_scan_prints_the_qr_code_and_its_url() -> None:
    finding = _login_finding(LoginState("scan", qrcode="https://login.weixin.qq.com/l/abc"))
    assert finding.line() == (
        "✗ login: a QR scan is needed Fix: scan this code with the WeChat app of the account (or open "
        "https://wechaty.js.org/qrcode/https%3A%2F%2Flogin.weixin.qq.com%2Fl%2Fabc).")
    assert finding.extra is not None
    rows = finding.extra.splitlines()
    assert len(rows) > 10 and len(set(map(len, rows))) == 1  # a square of blocks, two modules a row


def test_a_puppet_that_is_neither_logged_in_nor_scanning() -> None:
    assert _login_finding(None).line() == (
        "✗ login: the gateway's puppet is neither logged in nor showing a QR code Fix: look at the gateway's log: "
        "the puppet is still starting or cannot reach WeChat.")


def test_the_running_bridge_reports_logged_out() -> None:
    seen = BridgeSeen(online=True, login={"state": "logged_out", "reason": "cannot reach WeChat: ENOTFOUND"})
    assert _login_from_bridge(seen).line() == (
        "✗ login: the running bridge reports logged_out (cannot reach WeChat: ENOTFOUND) (the gateway serves one "
        "client at a time and another one (the running bridge?) holds it) Fix: scan the QR code the bridge shows "
        "(its log, bridge/login/qrcode or Home Assistant).")


def test_another_client_and_no_bridge_on_the_broker() -> None:
    assert _login_from_bridge(BridgeSeen(online=False, login=None)).line() == (
        "✗ login: not checked: the gateway serves one client at a time and another one (the running bridge?) holds "
        "it, and no bridge reports a login on MQTT Fix: stop the other client (doctor will not take its place), "
        "then run doctor again.")

"""What the bridge tells MQTT, serialised through `Topics`: the payload of every topic it publishes.

Pure builders: each returns a `Publication`; `status.py` and `app.py` decide when to publish.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge.chat import IlinkState, IncomingMessage, LoginState, WeChatRoom, qr_url
from bridge.events import DeliveryReport, Publication
from bridge.topics import Topics
from bridge.wechat.rooms import Resolution


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def delivery_publication(topics: Topics, report: DeliveryReport) -> Publication:
    body: dict[str, Any] = {
        "id": report.id,
        "status": report.status,
        "route": report.route,
        "topic": report.topic,
        "room": {"key": report.room.key, "id": report.room.id, "topic": report.room.topic},
        "error": report.error,
        "ts": iso_time(report.ts),
    }
    if report.digest is not None:
        body["digest"] = report.digest
    if report.condition_since is not None:
        body["condition_since"] = iso_time(report.condition_since)
    if report.silent_since is not None:
        body["silent_since"] = iso_time(report.silent_since)
    if report.note is not None:
        body["note"] = report.note
    if report.fallback is not None:
        body["fallback"] = {"status": report.fallback.status, "via": list(report.fallback.via),
                            "ts": iso_time(report.fallback.ts)}
    return Publication(topics.delivery, _json(body), qos=1, retain=False)


def state_publication(topics: Topics, state: str) -> Publication:
    return Publication(topics.state, _json({"state": state}), qos=1, retain=True)


def login_body(state: LoginState) -> dict[str, Any]:
    body: dict[str, Any] = {"state": state.state}
    if state.state == "scan" and state.qrcode:
        body["qrcode"] = state.qrcode
        body["url"] = qr_url(state.qrcode)
    if state.state == "logged_in" and state.user is not None:
        body["user"] = {"id": state.user.id, "name": state.user.name}
    if state.state in ("logged_out", "connecting") and state.reason:
        body["reason"] = state.reason
    return body


def login_publication(topics: Topics, state: LoginState) -> Publication:
    return Publication(topics.login, _json(login_body(state)), qos=1, retain=True)


def rooms_body(rooms: list[WeChatRoom], resolutions: Mapping[str, Resolution]) -> list[dict[str, Any]]:
    key_of: dict[str, str] = {}
    for key, resolution in resolutions.items():
        if resolution.room is not None:
            key_of.setdefault(resolution.room.id, key)
    return [
        {"id": room.id, "topic": room.topic, "member_count": room.member_count, "key": key_of.get(room.id)}
        for room in sorted(rooms, key=lambda r: (r.topic, r.id))
    ]


def ilink_body(state: IlinkState) -> dict[str, Any]:
    """`<base>/bridge/ilink/<name>`: one person's official bot (never a token)."""
    return {"state": state.state,
            "window_until": iso_time(state.window_until) if state.window_until is not None else None,
            "budget": state.budget, "waiting": state.waiting, "qr": state.qr, "reason": state.reason}


def ilink_publication(topics: Topics, state: IlinkState) -> Publication:
    return Publication(topics.ilink(state.name), _json(ilink_body(state)), qos=1, retain=True)


def rooms_publication(topics: Topics, body: list[dict[str, Any]]) -> Publication:
    return Publication(topics.rooms, _json(body), qos=1, retain=True)


def info_publication(topics: Topics, body: dict[str, Any]) -> Publication:
    return Publication(topics.info, _json(body), qos=1, retain=True)


def event_publication(topics: Topics, kind: str, data: dict[str, Any]) -> Publication:
    return Publication(topics.event, _json({"type": kind, "data": data}), qos=1, retain=False)


def response_publication(topics: Topics, name: str, body: dict[str, Any]) -> Publication:
    return Publication(topics.response(name), _json(body), qos=1, retain=False)


def room_message_publication(topics: Topics, key: str, room: WeChatRoom | None,
                             message: IncomingMessage) -> Publication:
    body = {
        "id": message.id,
        "room": {"key": key, "id": message.room_id, "topic": room.topic if room else None},
        "from": {"id": message.from_id, "name": message.from_name},
        "text": message.text,
        "type": message.type,
        "mentioned_me": message.mentioned_me,
        "ts": iso_time(message.ts),
    }
    return Publication(topics.room_message(key), _json(body), qos=1, retain=False)


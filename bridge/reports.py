"""What the bridge tells MQTT: delivery reports and its own state, serialised through `Topics`."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from bridge.events import DeliveryReport
from bridge.mqtt import Publication
from bridge.topics import Topics


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def delivery_publication(topics: Topics, report: DeliveryReport) -> Publication:
    body = {
        "id": report.id,
        "status": report.status,
        "route": report.route,
        "topic": report.topic,
        "room": {"key": report.room.key, "id": report.room.id, "topic": report.room.topic},
        "error": report.error,
        "ts": iso_time(report.ts),
    }
    return Publication(topics.delivery, orjson.dumps(body), qos=1, retain=False)


def state_publication(topics: Topics, state: str) -> Publication:
    return Publication(topics.state, orjson.dumps({"state": state}), qos=1, retain=True)

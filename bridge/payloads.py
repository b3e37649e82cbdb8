"""MQTT payload bytes -> the value templates see (pure).

JSON is tried first because most producers (Home Assistant, Tasmota, Zigbee2MQTT) send it;
anything that is not JSON stays text, so ESPHome's `ON` or a script's sentence work as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bridge.errors import PayloadError


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """The payload as text (`raw`) and as the value templates use (`value`)."""

    raw: str
    value: Any
    is_json: bool

    def field(self, name: str) -> Any:
        """A top-level field of a JSON object payload, or None."""
        return self.value.get(name) if isinstance(self.value, dict) else None


def decode_payload(payload: bytes, *, max_bytes: int) -> DecodedPayload:
    if len(payload) > max_bytes:
        raise PayloadError(
            f"the payload is {len(payload)} bytes, more than the {max_bytes} bytes allowed (limits.max_payload_bytes)"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the payload is not UTF-8 text (invalid byte at position {exc.start})") from None
    try:
        return DecodedPayload(text, orjson.loads(payload), True)
    except orjson.JSONDecodeError:
        return DecodedPayload(text, text, False)

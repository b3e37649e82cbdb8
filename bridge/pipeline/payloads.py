"""MQTT payload bytes -> the value templates see (pure).

JSON is tried first because most producers (Home Assistant, Tasmota, Zigbee2MQTT) send it;
anything that is not JSON stays text, so ESPHome's `ON` or a script's sentence work as they are.
A payload that starts like a JSON object (`{"` or `{}`) but is not valid JSON is rejected rather than
passed on as text: a template written for the object would only fail later, less clearly.
JSON that is valid but dangerous or ambiguous is rejected too: nested deeper than
`MAX_JSON_DEPTH`, duplicate keys (which value would the template see?), NaN and Infinity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bridge.errors import PayloadError

#: `{"key"...` or `{}`: a JSON object, not text such as `{{ 7*7 }}` that merely starts with a brace.
_OBJECT_START = re.compile(r'\s*\{\s*["}]')
#: Deep enough for any device payload seen in the wild, shallow enough to walk without recursion.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    """The payload as text (`raw`) and as the value templates use (`value`)."""

    raw: str
    value: Any
    is_json: bool

    def field(self, name: str) -> Any:
        """A top-level field of a JSON object payload, or None."""
        return self.value.get(name) if isinstance(self.value, dict) else None


class _Refused(ValueError):
    """Raised from inside the JSON parser's hooks."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the JSON payload has the key {key!r} more than once")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise _Refused(f"the JSON payload contains {name}, which JSON does not allow")


#: One decoder for every payload: `json.loads` with hooks builds a new decoder and scanner per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant)


def decode_payload(payload: bytes, *, max_bytes: int) -> DecodedPayload:
    if len(payload) > max_bytes:
        raise PayloadError(
            f"the payload is {len(payload)} bytes, more than the {max_bytes} bytes allowed (limits.max_payload_bytes)"
        )
    if not payload.strip():
        raise PayloadError("the payload is empty")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the payload is not UTF-8 text (invalid byte at position {exc.start})") from None
    if "\x00" in text:
        raise PayloadError("the payload contains a NUL character")
    structured = text.lstrip()[:1] in ("{", "[")
    try:
        value = _DECODER.decode(text)
    except _Refused as exc:
        if structured:
            raise PayloadError(str(exc)) from None
        return DecodedPayload(text, text, False)  # a bare NaN or Infinity is just a word
    except RecursionError:
        raise PayloadError(f"the JSON payload is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        if _OBJECT_START.match(text):
            raise PayloadError(f"the payload starts like a JSON object but is not valid JSON: {exc}") from None
        return DecodedPayload(text, text, False)
    # Nesting needs an opening bracket per level: most payloads cannot be too deep, no walk needed.
    if structured and text.count("{") + text.count("[") > MAX_JSON_DEPTH and _depth_exceeds(value, MAX_JSON_DEPTH):
        raise PayloadError(f"the JSON payload is nested more than {MAX_JSON_DEPTH} levels deep")
    return DecodedPayload(text, value, True)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False

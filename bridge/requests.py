"""`<base>/bridge/request/<name>` -> `<base>/bridge/response/<name>`, zigbee2mqtt style.

Every request gets exactly one response, in one envelope:
`{"status": "ok", "data": ..., "transaction": ...}` or `{"status": "error", "error": "...", "transaction": ...}`;
`transaction` is echoed only when the request carried one. Malformed requests get an error
response, never silence.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from bridge.errors import RequestError

# RequestError lives in the error tree; request handlers may take it from here.
__all__ = ["RequestError", "RequestHandler", "handle_request"]

log = logging.getLogger(__name__)


RequestHandler = Callable[[dict[str, Any]], Awaitable[Any]]


async def handle_request(handlers: Mapping[str, RequestHandler], name: str, payload: bytes) -> dict[str, Any]:
    """Run one request and return its response envelope."""
    body: Any = {}
    if payload.strip():
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return _error(f"the request is not valid JSON: {exc}", None)
    if not isinstance(body, dict):
        return _error("the request must be a JSON object, such as {\"transaction\": \"1\"}", None)
    transaction = body.pop("transaction", None)
    handler = handlers.get(name)
    if handler is None:
        known = ", ".join(sorted(handlers))
        return _error(f"unknown request {name!r} (known: {known})", transaction)
    try:
        data = await handler(body)
    except RequestError as exc:
        return _error(str(exc), transaction)
    except Exception as exc:  # a bug must not leave the requester waiting forever
        log.exception("request %s failed", name)
        return _error(f"the request failed: {type(exc).__name__}: {exc}", transaction)
    envelope: dict[str, Any] = {"status": "ok", "data": data}
    if transaction is not None:
        envelope["transaction"] = transaction
    return envelope


def _error(message: str, transaction: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {"status": "error", "error": message}
    if transaction is not None:
        envelope["transaction"] = transaction
    return envelope

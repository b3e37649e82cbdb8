"""`<base>/bridge/request/<name>` -> `<base>/bridge/response/<name>`, zigbee2mqtt style: the four requests.

Every request gets exactly one response, in one envelope:
`{"status": "ok", "data": ..., "transaction": ...}` or `{"status": "error", "error": "...", "transaction": ...}`;
`transaction` is echoed only when the request carried one. Malformed requests get an error
response, never silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson

from bridge.config.loader import load_config
from bridge.errors import ConfigError, RequestError
from bridge.events import DeliveryReport, Planned, Queued
from bridge.pipeline import plan as pipeline
from bridge.pipeline.plan import event_id_from
from bridge.pipeline.runtime import LiveRuntime, Runtime
from bridge.reporting.info import BridgeInfo, LoginSource
from bridge.reporting.status import BridgeStatus

log = logging.getLogger(__name__)


RequestHandler = Callable[[dict[str, Any]], Awaitable[Any]]
#: Stores a direct send; returns the report it was refused with, if it was.
Accept = Callable[[Planned], Awaitable[DeliveryReport | None]]


class RoomEvents(Protocol):
    async def refresh_rooms(self) -> bool: ...


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


class Requests:
    """The four requests: `health_check`, `reload`, `rooms` and `send`.

    `reload` re-reads the config file and compiles a new runtime; a config with problems leaves
    the running one untouched and the error lists every problem. A good one is swapped in whole,
    then `on_reload` tells the connections (subscriptions, Home Assistant, room resolution).
    """

    def __init__(self, *, live: LiveRuntime, config_path: Path | None, info: BridgeInfo, wechat: LoginSource,
                 rooms: RoomEvents, status: BridgeStatus, accept: Accept,
                 on_reload: Callable[[Runtime], Awaitable[None]]) -> None:
        self._live = live
        self._config_path = config_path
        self._info = info
        self._wechat = wechat
        self._rooms = rooms
        self._status = status
        self._accept = accept
        self._on_reload = on_reload
        self.handlers: dict[str, RequestHandler] = {
            "health_check": self._health_check,
            "reload": self._reload,
            "rooms": self._room_list,
            "send": self._send,
        }

    async def answer(self, name: str, payload: bytes) -> dict[str, Any]:
        """The response envelope of request `name`."""
        return await handle_request(self.handlers, name, payload)

    async def _health_check(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._info.health()

    async def _room_list(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        state = self._wechat.state
        if state.state != "logged_in":
            raise RequestError(f"WeChat is not logged in ({state.reason or state.state}); no room list to read")
        await self._rooms.refresh_rooms()
        return self._status.rooms or []

    async def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        room, text = body.get("room"), body.get("text")
        if not isinstance(room, str) or not isinstance(text, str):
            raise RequestError('a send request needs "room" (a room key) and "text", both strings')
        runtime = self._live.current
        outcome = pipeline.direct_send(runtime, topic=runtime.topics.request("send"), room_key=room, text=text,
                                       event_id=event_id_from(body.get("id")), received_at=time.time(),
                                       mention=body.get("mention", []))
        refusal = await self._accept(outcome)
        if refusal is not None:
            raise RequestError(refusal.error or "rejected")
        assert isinstance(outcome, Queued)
        return {"id": outcome.delivery.event_id, "room": room, "status": "queued"}

    async def _reload(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._config_path is None:
            raise RequestError("this bridge was not started from a config file")
        try:
            runtime, ignored = self._live.current.reloaded(load_config(self._config_path))
        except ConfigError as exc:
            raise RequestError("the new config was not loaded: " + "; ".join(str(p) for p in exc.problems)) from None
        self._live.swap(runtime)
        await self._on_reload(runtime)
        routes = len(runtime.routes)
        log.info("config reloaded: %d routes, %d rooms", routes, len(runtime.rooms))
        data: dict[str, Any] = {"routes": routes, "rooms": len(runtime.rooms)}
        if ignored:
            data["restart_needed_for"] = ignored
        return data

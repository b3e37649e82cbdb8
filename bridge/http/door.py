"""The HTTP door's server, for services that cannot speak MQTT (the status page beside it is
`bridge.http.page`; the URL download client is `bridge.download`).

`POST /sendmessage` keeps the request format of the Flask notification service this project
grew from, so its callers keep working; `POST /send/<room key>` takes the same bodies as MQTT
direct sends. Both feed the same path as MQTT (queue, delivery reports) and answer `202` with
the event id once the message is accepted; what then happens to it is on `<base>/bridge/delivery`.
`POST /apprise/<room key>` takes the JSON body of Apprise's `json://` plugin (`bridge.apprise_in`),
so any tool that speaks Apprise can write into a room, its title kept.
The status page at `/` and `GET /metrics` (`bridge.http.page`) are served here too, with their own
credentials (a session cookie; a bearer token that may be `http.metrics_token`).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bridge.config.models import HttpSettings
from bridge.errors import StartupError
from bridge.events import DeliveryReport, InboundMessage, Planned
from bridge.http import page
from bridge.http.apprise_in import apprise_send
from bridge.http.overview import Overview
from bridge.http.prometheus import PrometheusMetrics
from bridge.pipeline import plan as pipeline
from bridge.pipeline.plan import event_id_from
from bridge.pipeline.runtime import LiveRuntime

log = logging.getLogger(__name__)

Accept = Callable[[Planned], Awaitable[DeliveryReport | None]]
Health = Callable[[], Awaitable[dict[str, Any]]]

#: Padded base64 of at least one byte, as Apprise writes attachments.
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
_STATUS_FOR_REASON = {"unknown_room": 404, "direct_not_allowed": 403, "queue_full": 503, "bad_input": 400}


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json(status, {"error": message})


class HttpIngress:
    def __init__(self, settings: HttpSettings, *, live: LiveRuntime, accept: Accept, health: Health,
                 overview: Overview | None = None, metrics: PrometheusMetrics | None = None) -> None:
        self._settings = settings
        #: Read at each request: a reload applies to the requests after it.
        self._live = live
        # The status page renders and sends through this door's own runtime and intake.
        self._page = page.StatusPage(settings, overview=overview, live=live, accept=accept,
                                     metrics=metrics) if overview is not None else None
        self._accept = accept
        self._health = health
        self._token = settings.token.get_secret_value().encode() if settings.token else b""
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self._settings.max_body_bytes,
                              middlewares=[self._errors_as_json, self._authorised])
        app.router.add_post("/sendmessage", self._send_message)
        app.router.add_post("/send/{key}", self._send_to_key)
        app.router.add_post("/apprise/{key}", self._apprise)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/openapi.json", self._openapi)
        if self._page is not None:
            self._page.add_routes(app)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise StartupError(f"HTTP: cannot listen on {self._settings.host}:{self._settings.port}: "
                               f"{exc.strerror or exc}") from None
        log.info("HTTP: listening on http://%s:%d", self._settings.host, self._settings.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _errors_as_json(self, request: web.Request,
                              handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """aiohttp answers its own errors (404, 405, 413) in HTML; callers here expect JSON."""
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"the request body is larger than {self._settings.max_body_bytes} bytes "
                               "(http.max_body_bytes)")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _error(exc.status, exc.reason)
            if "Allow" in exc.headers:  # a 405 must say which methods are allowed
                response.headers["Allow"] = exc.headers["Allow"]
            return response

    @web.middleware
    async def _authorised(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path in ("/healthz", "/openapi.json") or (self._page is not None and page.owns(request.path)):
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            return web.Response(status=401, body=orjson.dumps({"error": "missing or wrong bearer token"}),
                                content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    async def _send_message(self, request: web.Request) -> web.Response:
        """The legacy format: `{"room": "<room topic or key>", "message": "..."}`."""
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        room, text = body.get("room"), body.get("message")
        if not isinstance(room, str) or not isinstance(text, str):
            return _error(400, 'the body needs "room" (a room key or room name) and "message", both strings')
        key = self._key_for(room)
        outcome = pipeline.direct_send(self._live.current, topic=request.path, room_key=key, text=text,
                                       event_id=event_id_from(body.get("id")), received_at=time.time(),
                                       mention=body.get("mention", []))
        return await self._answer(outcome)

    async def _send_to_key(self, request: web.Request) -> web.Response:
        """Plain text, or JSON `{"text": ..., "id": ...}`, exactly as on `<base>/send/<key>`."""
        payload = await request.read()
        message = InboundMessage(topic=request.path, payload=payload, retain=False, received_at=time.time())
        return await self._answer(pipeline.direct_send_message(self._live.current, message, request.match_info["key"]))

    async def _apprise(self, request: web.Request) -> web.Response:
        """Apprise's JSON notification (`json://host:port/apprise/<key>`): title and message, one attachment."""
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        return await self._answer(apprise_send(self._live.current, body, room_key=request.match_info["key"],
                                               topic=request.path, received_at=time.time()))

    async def _answer(self, outcome: Planned) -> web.Response:
        rejection = await self._accept(outcome)
        if rejection is not None:
            return _json(_STATUS_FOR_REASON.get(rejection.reason or "bad_input", 400),
                         {"error": rejection.error, "id": rejection.id})
        return _json(202, {"id": outcome.event_id,
                           "status": "queued"})

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self._health()
        return _json(200 if health.get("healthy") else 503, health)

    async def _openapi(self, request: web.Request) -> web.Response:
        return _json(200, openapi_document())

    def _key_for(self, room: str) -> str:
        """A room key as given, or the key of the configured room with that exact name."""
        rooms = self._live.current.rooms
        if room in rooms:
            return room
        named = [key for key, settings in rooms.items() if settings.topic == room]
        return named[0] if len(named) == 1 else room


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"the body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    return body


def openapi_document() -> dict[str, Any]:
    error = {"type": "object", "properties": {"error": {"type": "string"}, "id": {"type": "string"}},
             "required": ["error"]}
    accepted = {"type": "object", "properties": {"id": {"type": "string"}, "status": {"const": "queued"}},
                "required": ["id", "status"]}

    def responses(extra: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"202": {"description": "accepted; the delivery report follows on MQTT",
                                       "content": {"application/json": {"schema": accepted}}}}
        for code, text in {"400": "the body cannot be sent", "401": "missing or wrong bearer token",
                           "413": "the body is too large", "503": "the bridge holds too many undelivered messages",
                           **extra}.items():
            out[code] = {"description": text, "content": {"application/json": {"schema": error}}}
        return out

    return {
        "openapi": "3.0.3",
        "info": {"title": "wechat-mqtt-bridge HTTP door", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/sendmessage": {"post": {
                "summary": "Send a message to a room by its key or exact name (the legacy format)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["room", "message"],
                    "properties": {"room": {"type": "string", "minLength": 1},
                                   "message": {"type": "string", "pattern": r"\S"},
                                   "id": {"type": "string"}}}}}},
                "responses": responses({"403": "the room does not take direct sends", "404": "no such room"}),
            }},
            "/send/{key}": {"post": {
                "summary": "Send text to a room by key, as on <base>/send/<key>",
                "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {
                    "text/plain": {"schema": {"type": "string", "pattern": r"\S"}},
                    "application/json": {"schema": {"type": "object", "required": ["text"], "properties": {
                        "text": {"type": "string", "pattern": r"\S"}, "id": {"type": "string"}}}}}},
                "responses": responses({"403": "the room does not take direct sends", "404": "no such room"}),
            }},
            "/apprise/{key}": {"post": {
                "summary": "An Apprise notification (json:// plugin) into a room by key: title, message, "
                           "one attachment",
                "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["message"], "properties": {
                        "version": {"type": "string"}, "title": {"type": "string"},
                        "message": {"type": "string", "pattern": r"\S"}, "type": {"type": "string"},
                        "attachments": {"type": "array", "maxItems": 1, "items": {
                            "type": "object", "required": ["base64"], "properties": {
                                "filename": {"type": "string"}, "mimetype": {"type": "string"},
                                "base64": {"type": "string", "minLength": 4, "pattern": _BASE64}}}}}}}}},
                "responses": responses({"403": "the room does not take direct sends", "404": "no such room"}),
            }},
            "/healthz": {"get": {
                "summary": "The health_check answer: 200 when healthy, 503 when not",
                "security": [],
                "responses": {code: {"description": text, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["healthy"], "properties": {"healthy": {"type": "boolean"}}}}}}
                    for code, text in (("200", "healthy"), ("503", "not healthy"))},
            }},
        },
    }

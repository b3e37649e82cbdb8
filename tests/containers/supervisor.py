"""A fake Home Assistant Supervisor for the App's container test: its API and its ingress proxy.

The API answers what the App asks at start, only with the right `SUPERVISOR_TOKEN`:
`GET /services/mqtt` (the Mosquitto App's broker and credentials) and `GET /info` (the time zone).
It counts the calls, so a test can see the App asked.

The ingress proxy does what the Supervisor does for the sidebar page: a browser asks for
`/api/hassio_ingress/<token>/<path>`; the proxy asks the App for `/<path>` with the header
`X-Ingress-Path: /api/hassio_ingress/<token>`, from its own address (`source`, the one the App
trusts), and streams the answer back (the page's live updates are a Server-Sent Events stream).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.broker import free_port

INGRESS_TOKEN = "Zm9vYmFyLWluZ3Jlc3MtdG9rZW4"
INGRESS_PATH = f"/api/hassio_ingress/{INGRESS_TOKEN}"
#: Hop-by-hop and length headers the proxy does not copy (it re-frames the body).
_SKIP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class FakeSupervisor:
    def __init__(self, *, token: str, mqtt: dict[str, Any], timezone: str, app_port: int, source: str) -> None:
        self.token = token
        self.mqtt = mqtt
        self.timezone = timezone
        self.app = f"http://127.0.0.1:{app_port}"
        self.source = source
        self.port = free_port()
        self.calls: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-supervisor", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSupervisor:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/services/mqtt", self._services_mqtt)
        app.router.add_get("/info", self._info)
        app.router.add_route("*", INGRESS_PATH + "/{tail:.*}", self._ingress)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        # The Supervisor's own address, as the App sees it: every ingress request leaves from there.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(self.source, 0)),
                                              auto_decompress=False)

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _services_mqtt(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        self.calls["/services/mqtt"] += 1
        return web.json_response({"result": "ok", "data": {**self.mqtt, "addon": "core_mosquitto"}})

    async def _info(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        self.calls["/info"] += 1
        return web.json_response({"result": "ok", "data": {"timezone": self.timezone, "arch": "amd64"}})

    async def _ingress(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP}
        headers["X-Ingress-Path"] = INGRESS_PATH
        target = f"{self.app}/{request.match_info['tail']}"
        if request.query_string:
            target += "?" + request.query_string
        async with self._session.request(request.method, target, headers=headers, data=await request.read(),
                                         allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

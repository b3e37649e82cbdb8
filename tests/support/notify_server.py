"""A local HTTP server standing in for a notification service (ntfy, a WeCom robot, Apprise-API).

The bridge's real Apprise library posts to it with its own `json://` plugin, so what arrives is
what such a service would get: Apprise's JSON body (`title`, `message`, `type`, `attachments`
with base64 data). It listens on 127.0.0.1 only, on a free port, in a thread of its own.

`mode` says how it answers: `ok` (200), `fail` (500), or `hang` (holds the request without
answering, until `release()`); every request is recorded, whatever the answer.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.support.waiting import wait_on

Mode = Literal["ok", "fail", "hang"]


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: How it was answered (`hang`: not before the bridge gave up or was killed).
    answered: Mode
    at: float = field(default_factory=time.monotonic)

    @property
    def title(self) -> str:
        return str(self.body.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    def attachment(self, index: int = 0) -> tuple[str, str, bytes]:
        """(file name, MIME type, bytes) of an attachment."""
        found = self.body["attachments"][index]
        return found["filename"], found["mimetype"], base64.b64decode(found["base64"])


class NotifyServer:
    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.posted: list[Posted] = []
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._loop.run_forever, name="notify-server", daemon=True)

    def start(self) -> NotifyServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        mode = self.mode
        with self._changed:
            self.posted.append(Posted(request.path, dict(request.headers), body, mode))
            self._changed.notify_all()
        if mode == "hang":
            assert self._release is not None
            await self._release.wait()
            return web.Response(status=504)
        return web.json_response({"ok": mode == "ok"}, status=200 if mode == "ok" else 500)

    def url(self, path: str = "hook", *, userinfo: str = "", query: str = "") -> str:
        """An Apprise `json://` URL posting to `path` here."""
        at = f"{userinfo}@" if userinfo else ""
        return f"json://{at}127.0.0.1:{self.port}/{path}{'?' + query if query else ''}"

    def release(self) -> None:
        """Answer the held requests (mode `hang`)."""
        def go() -> None:
            assert self._release is not None
            self._release.set()
        self._loop.call_soon_threadsafe(go)

    def wait_for(self, predicate: Callable[[Posted], bool] = lambda p: True, *, count: int = 1,
                 timeout: float = 20.0, what: str = "notifications") -> list[Posted]:
        def check() -> list[Posted] | None:
            found = [p for p in self.posted if predicate(p)]
            return found if len(found) >= count else None

        def seen() -> str:
            return "\n".join(f"  {p.path} [{p.answered}] {p.title!r}: {p.message[:80]!r}" for p in self.posted)

        return wait_on(self._changed, check, timeout=timeout, what=f"{count} {what}", detail=seen)

    def matching(self, predicate: Callable[[Posted], bool]) -> list[Posted]:
        with self._changed:
            return [p for p in self.posted if predicate(p)]

    def close(self) -> None:
        async def stop() -> None:
            if self._release is not None:
                self._release.set()
            if self._runner is not None:
                await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

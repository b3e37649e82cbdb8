"""Live updates for the status page: Server-Sent Events carrying the sections that changed.

Each message is `{"sections": {<section id>: <HTML>}}`, rendered by the same templates as the
first page load, so what arrives live is escaped exactly as the page is. A section is sent again
only when its HTML changed. The stream wakes on every change the stages announce (`Overview.notify`:
a login, a report, a link up or down) and at least every `REFRESH_SECONDS`, since the queue's
figures move without an announcement; a comment line every `KEEPALIVE_SECONDS` keeps proxies
from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from bridge.http.overview import Overview

#: How stale the queue figures on an open page may get.
REFRESH_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
#: What the browser waits before reconnecting a dropped stream.
RETRY_MILLISECONDS = 2000

RenderSections = Callable[[], Awaitable[dict[str, str]]]


class EventStreams:
    def __init__(self, overview: Overview, render: RenderSections) -> None:
        self._overview = overview
        self._render = render
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every open stream (shutdown): the handlers return instead of holding the server."""
        self._closing.set()
        self._overview.notify()  # wakes every stream waiting for a change

    async def stream(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            **headers, "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
        sent: dict[str, str] = {}
        last_write = time.monotonic()
        with contextlib.suppress(ConnectionResetError):  # the browser went away
            while not self._closing.is_set():
                seen = self._overview.version
                sections = await self._render()
                changed = {name: html for name, html in sections.items() if sent.get(name) != html}
                if changed:
                    await response.write(b"data: " + orjson.dumps({"sections": changed}) + b"\n\n")
                    sent.update(changed)
                    last_write = time.monotonic()
                elif time.monotonic() - last_write > KEEPALIVE_SECONDS:
                    await response.write(b": keepalive\n\n")
                    last_write = time.monotonic()
                await self._overview.wait(seen, REFRESH_SECONDS)
        return response

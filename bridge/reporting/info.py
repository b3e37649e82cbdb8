"""What the bridge says about itself: the `bridge/info` payload and the `health_check` answer.

Both are assembled here from the stages' own state (the broker link, the WeChat login, the
room resolutions, the outbox figures); `bridge.status` publishes `info`, the requests and the
HTTP door's `/healthz` answer `health`. The broker link and the WeChat session are read through
the two properties used, so this module imports neither adapter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from bridge import __version__
from bridge.chat import IlinkState, LoginState
from bridge.fallback.rules import scheme
from bridge.outbox.records import OutboxStats
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.pipeline.runtime import LiveRuntime
from bridge.reporting import payloads as reports
from bridge.wechat.rooms import RoomDirectory

log = logging.getLogger(__name__)


class BrokerLink(Protocol):
    """The MQTT session as seen here: set while connected."""

    @property
    def connected(self) -> asyncio.Event: ...


class LoginSource(Protocol):
    """The WeChat session as seen here: where the account stands."""

    @property
    def state(self) -> LoginState: ...


class BridgeInfo:
    def __init__(self, *, store: OutboxRunner, broker: BrokerLink, wechat: LoginSource, directory: RoomDirectory,
                 live: LiveRuntime, started: float, ilink: Mapping[str, IlinkState] | None = None) -> None:
        self._store = store
        #: Each person's official bot as `<base>/bridge/ilink/<name>` last said (the status topics
        #: keep it); None when no room uses the official bot.
        self._ilink = ilink
        self._broker = broker
        self._wechat = wechat
        self._directory = directory
        self._live = live
        self.started = started

    async def outbox_stats(self) -> OutboxStats:
        """Depth, oldest age and counts per status of the outbox."""
        now = time.time()
        return await self._store.run(Outbox.stats, now, held=self._live.current.quiet.held_rooms(now))

    async def queue(self) -> dict[str, Any]:
        """The `queue` object of `bridge/info` and `health_check`."""
        try:
            stats = await self.outbox_stats()
        except Exception as exc:  # the outbox is closed during start-up and shutdown
            log.debug("outbox statistics unavailable: %s", exc)
            return {"depth": None}
        return {
            "depth": stats.depth,
            "oldest_age": round(stats.oldest_age, 1) if stats.oldest_age is not None else None,
            "sending": stats.sending,
            "held": stats.held,
            "unreported": stats.unreported,
            "finished": {status: n for status, n in stats.by_status.items() if status != "pending"},
        }

    async def fallback(self) -> dict[str, Any] | None:
        """The `fallback` object of `bridge/info`: the schemes of its URLs (never a URL) and its sends."""
        settings = self._live.current.config.fallback
        if not settings.enabled:
            return None
        body: dict[str, Any] = {"via": [scheme(url.get_secret_value()) for url in settings.urls]}
        try:
            stats = await self._store.run(Outbox.fallback_stats)
        except Exception as exc:  # the outbox is closed during start-up and shutdown
            log.debug("fallback statistics unavailable: %s", exc)
            return body
        return body | {"pending": stats.pending, "sent": stats.sent, "failed": stats.failed,
                       "in_doubt": stats.in_doubt}

    def ilink(self) -> dict[str, Any] | None:
        """The `ilink` object of `bridge/info`: each person's state, window, budget, what waits and why
        (never a token, nor the login QR code: that is on `bridge/ilink/<name>`)."""
        if self._ilink is None:
            return None
        found = {}
        for name in sorted(self._ilink):
            body = reports.ilink_body(self._ilink[name])
            found[name] = {key: body[key] for key in ("state", "window_until", "budget", "waiting", "reason")}
        return found

    async def info(self) -> dict[str, Any]:
        """The retained `bridge/info` payload."""
        resolutions = self._directory.resolutions
        unresolved = [
            {"key": key, "reason": r.problem} for key, r in sorted(resolutions.items()) if r.room is None
        ]
        runtime = self._live.current
        return {
            "version": __version__,
            "login": self._wechat.state.state,
            "routes": len(runtime.routes),
            "rooms": {
                "configured": len(runtime.rooms),
                "resolved": sum(1 for r in resolutions.values() if r.room is not None),
                "unresolved": unresolved,
            },
            "queue": await self.queue(),
            "fallback": await self.fallback(),
            "ilink": self.ilink(),
            "started": reports.iso_time(self.started),
            "uptime": round(time.time() - self.started),
        }

    async def health(self) -> dict[str, Any]:
        """The `health_check` answer: healthy when connected to the broker and logged in to WeChat."""
        state = self._wechat.state
        broker = self._broker.connected.is_set()
        return {
            "healthy": broker and state.state == "logged_in",
            "broker": {"connected": broker},
            "wechat": {"state": state.state, "reason": state.reason,
                       "user": state.user.name if state.user else None},
            "queue": await self.queue(),
        }

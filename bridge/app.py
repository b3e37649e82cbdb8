"""The composition root: builds every stage from the config and runs the bridge's lifecycle.

Start: connect to the broker and to the WeChat gateway side by side; each reconnects on its own.
Broker connect: re-publish every retained status topic (state, login, rooms, info).
Login: resolve the configured rooms, then let queued deliveries go out.
Reload (a request): swap routes and rooms; a bad config leaves the running one untouched.
Shutdown (SIGTERM/SIGINT): stop intake, publish `offline`, close both connections.
Only this module starts tasks, and every task it starts is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

from bridge import __version__, homeassistant, reports
from bridge.config import Config, load_config
from bridge.delivery import DeliveryWorker
from bridge.errors import ConfigError, SendError
from bridge.events import Delivery, DeliveryReport, InboundMessage
from bridge.homeassistant import HomeAssistant
from bridge.mqtt import MqttSession
from bridge.pipeline import Outcome, Pipeline, event_id_from
from bridge.requests import RequestError, RequestHandler, handle_request
from bridge.rooms import RoomDirectory
from bridge.status import BridgeStatus
from bridge.wechat import ConnectionProblem, LoginState, RoomChange, WeChatClient, WeChatEvent

log = logging.getLogger(__name__)

#: How long shutdown waits for the `offline` state to reach the broker.
SHUTDOWN_PUBLISH_SECONDS = 3.0
ROOM_REFRESH_RETRY_SECONDS = 2.0
#: `bridge/info` carries the uptime; refreshed this often so a dashboard shows it moving.
INFO_INTERVAL_SECONDS = 60.0


class Bridge:
    def __init__(self, config: Config, *, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.topics = config.topics
        self.pipeline = Pipeline.from_config(config)
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=config.limits.max_queued)
        self.directory = RoomDirectory(config.rooms)
        self.rooms_ready = asyncio.Event()
        self.started = time.time()
        token = config.wechaty.token.get_secret_value() if config.wechaty.token else ""
        self.wechat = WeChatClient(endpoint=config.wechaty.endpoint, token=token,
                                   send_timeout=config.wechaty.send_timeout, on_event=self._on_wechat_event)
        self.mqtt = MqttSession(
            config.mqtt,
            subscriptions=self._subscriptions(),
            on_message=self._on_message,
            on_connect=self._on_mqtt_connect,
            will=reports.state_publication(self.topics, "offline"),
        )
        self.status = BridgeStatus(self.topics, self.mqtt.publish, self._info)
        self.homeassistant = HomeAssistant(config, self.mqtt.publish)
        self.worker = DeliveryWorker(queue=self.queue, wechat=self.wechat, directory=self.directory,
                                     rooms_ready=self.rooms_ready, report=self._report)
        self.requests: dict[str, RequestHandler] = {
            "health_check": self._request_health_check,
            "reload": self._request_reload,
            "rooms": self._request_rooms,
            "send": self._request_send,
        }
        self._refresh_lock = asyncio.Lock()

    def _subscriptions(self) -> list[str]:
        return [*self.pipeline.router.subscriptions, self.topics.send_filter, self.topics.request_filter,
                *homeassistant.subscriptions(self.config)]

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self.mqtt.run(), name="mqtt-session"),
                group.create_task(self.wechat.run(), name="wechat-session"),
                group.create_task(self.worker.run(), name="delivery-worker"),
                group.create_task(self._refresh_info(), name="info-refresh"),
            ]
            await stop.wait()
            log.info("shutting down")
            await self._publish_offline()
            for task in tasks:
                task.cancel()

    async def _publish_offline(self) -> None:
        if not self.mqtt.connected.is_set():
            return
        await self.mqtt.publish(reports.state_publication(self.topics, "offline"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_PUBLISH_SECONDS):
                await self.mqtt.flush()

    async def _refresh_info(self) -> None:
        while True:
            await asyncio.sleep(INFO_INTERVAL_SECONDS)
            await self.status.publish_info()

    # --- MQTT side -------------------------------------------------------------------------

    async def _on_mqtt_connect(self) -> None:
        await self.status.replay()
        await self.homeassistant.on_connect()

    async def _on_message(self, message: InboundMessage) -> None:
        if await self.homeassistant.on_message(message):
            return
        name = self.topics.request_name(message.topic)
        if name is not None:
            response = await handle_request(self.requests, name, message.payload)
            await self.mqtt.publish(reports.response_publication(self.topics, name, response))
            return
        for outcome in self.pipeline.plan(message):
            await self._accept(outcome)

    async def _accept(self, outcome: Outcome) -> DeliveryReport | None:
        """Queue a delivery, or report a rejection; returns the rejection, if any."""
        if isinstance(outcome, DeliveryReport):
            log.info("rejected %s from %s: %s", outcome.id, outcome.topic, outcome.error)
            await self._report(outcome)
            return outcome
        try:
            self.queue.put_nowait(outcome)
        except asyncio.QueueFull:
            rejection = DeliveryReport.rejected(
                event_id=outcome.event_id, route=outcome.route, topic=outcome.source_topic,
                room_key=outcome.room_key,
                error=f"the bridge already holds {self.queue.maxsize} undelivered messages (limits.max_queued)",
            )
            await self._report(rejection)
            return rejection
        return None

    async def _report(self, report: DeliveryReport) -> None:
        await self.mqtt.publish(reports.delivery_publication(self.topics, report))

    # --- WeChat side -----------------------------------------------------------------------

    async def _on_wechat_event(self, event: WeChatEvent) -> None:
        if isinstance(event, LoginState):
            if event.state == "logged_in":
                log.info("WeChat: logged in as %s", event.user.name if event.user else "?")
            elif event.state == "scan":
                log.info("WeChat: waiting for the QR code to be scanned")
            else:
                self.rooms_ready.clear()
                log.info("WeChat: %s%s", event.state.replace("_", " "), f" ({event.reason})" if event.reason else "")
            await self.status.set_login(event)
            await self.homeassistant.on_login(event)
            if event.state == "logged_in":
                await self._refresh_rooms()
        elif isinstance(event, RoomChange):
            log.info("WeChat: %s in room %s", event.kind.replace("_", " "), event.room_id)
            await self._refresh_rooms()
            room = next((r for r in self.directory.rooms if r.id == event.room_id), None)
            room_data = {"id": event.room_id, "topic": room.topic if room else None}
            await self.status.event(event.kind, {"room": room_data, **event.data})
        elif isinstance(event, ConnectionProblem):
            await self.status.event("error", {"message": f"WeChat gateway: {event.reason}"})

    async def _refresh_rooms(self) -> bool:
        """Re-read the account's rooms and re-resolve every room key; retried while logged in."""
        async with self._refresh_lock:
            while self.wechat.state.state == "logged_in":
                try:
                    rooms = await self.wechat.rooms()
                except SendError as exc:
                    log.warning("cannot read the room list: %s; retrying", exc)
                    await asyncio.sleep(ROOM_REFRESH_RETRY_SECONDS)
                    continue
                self._apply_rooms(rooms)
                await self.status.set_rooms(reports.rooms_body(self.directory.rooms, self.directory.resolutions))
                await self.status.publish_info()
                return True
            return False

    def _apply_rooms(self, rooms: list[Any]) -> None:
        resolutions = self.directory.update(rooms)
        found = sum(1 for r in resolutions.values() if r.room is not None)
        log.info("WeChat: %d of %d configured rooms resolved (%d rooms in the account)",
                 found, len(resolutions), len(rooms))
        for resolution in resolutions.values():
            if resolution.problem:
                log.warning("%s", resolution.problem)
        self.rooms_ready.set()

    # --- status ----------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        resolutions = self.directory.resolutions
        unresolved = [
            {"key": key, "reason": r.problem} for key, r in sorted(resolutions.items()) if r.room is None
        ]
        return {
            "version": __version__,
            "login": self.wechat.state.state,
            "routes": len(self.pipeline.router.routes),
            "rooms": {
                "configured": len(self.config.rooms),
                "resolved": sum(1 for r in resolutions.values() if r.room is not None),
                "unresolved": unresolved,
            },
            "queue": {"depth": self.queue.qsize()},
            "started": reports.iso_time(self.started),
            "uptime": round(time.time() - self.started),
        }

    # --- requests --------------------------------------------------------------------------

    async def _request_health_check(self, body: dict[str, Any]) -> dict[str, Any]:
        state = self.wechat.state
        broker = self.mqtt.connected.is_set()
        return {
            "healthy": broker and state.state == "logged_in",
            "broker": {"connected": broker},
            "wechat": {"state": state.state, "reason": state.reason,
                       "user": state.user.name if state.user else None},
            "queue": {"depth": self.queue.qsize()},
        }

    async def _request_rooms(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        state = self.wechat.state
        if state.state != "logged_in":
            raise RequestError(f"WeChat is not logged in ({state.reason or state.state}); no room list to read")
        await self._refresh_rooms()
        return self.status.rooms or []

    async def _request_send(self, body: dict[str, Any]) -> dict[str, Any]:
        room, text = body.get("room"), body.get("text")
        if not isinstance(room, str) or not isinstance(text, str):
            raise RequestError('a send request needs "room" (a room key) and "text", both strings')
        outcome = self.pipeline.direct_send(topic=self.topics.request("send"), room_key=room, text=text,
                                            event_id=event_id_from(body.get("id")), received_at=time.time())
        rejection = await self._accept(outcome)
        if rejection is not None:
            raise RequestError(rejection.error or "rejected")
        assert isinstance(outcome, Delivery)
        return {"id": outcome.event_id, "room": room, "status": "queued"}

    async def _request_reload(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.config_path is None:
            raise RequestError("this bridge was not started from a config file")
        try:
            config = load_config(self.config_path)
            pipeline = Pipeline.from_config(config)
        except ConfigError as exc:
            raise RequestError("the new config was not loaded: " + "; ".join(str(p) for p in exc.problems)) from None
        ignored = [section for section in ("mqtt", "wechaty", "limits", "homeassistant")
                   if getattr(config, section) != getattr(self.config, section)]
        self.config = config.model_copy(update={s: getattr(self.config, s) for s in ignored})
        self.pipeline = pipeline
        self.directory.configured = config.rooms
        await self.mqtt.set_subscriptions(self._subscriptions())
        await self.homeassistant.reload(self.config)
        if self.directory.rooms or self.wechat.state.state == "logged_in":
            self._apply_rooms(self.directory.rooms)
            await self.status.set_rooms(reports.rooms_body(self.directory.rooms, self.directory.resolutions))
        await self.status.publish_info()
        routes = len(pipeline.router.routes)
        log.info("config reloaded: %d routes, %d rooms", routes, len(config.rooms))
        data: dict[str, Any] = {"routes": routes, "rooms": len(config.rooms)}
        if ignored:
            data["restart_needed_for"] = ignored
        return data


async def run_until_signalled(config: Config, config_path: Path | None = None) -> None:
    """Run the bridge until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge(config, config_path=config_path)
    try:
        await bridge.run(stop)
    except* asyncio.CancelledError:
        pass


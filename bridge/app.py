"""The composition root: builds every stage from the config and runs the bridge's lifecycle.

Start: open the outbox (deliveries left pending resume; reports not yet published go out),
then connect to the broker and to the WeChat gateway side by side; each reconnects on its own.
Data flow: MQTT -> intake -> outbox (commit, then PUBACK) -> delivery worker -> WeChat;
finished rows -> reporter -> <base>/bridge/delivery.
Broker connect: re-publish every retained status topic (state, login, rooms, info).
Login: resolve the configured rooms, then let queued deliveries go out.
Reload (a request): swap routes and rooms; a bad config leaves the running one untouched.
Shutdown (SIGTERM/SIGINT): close the HTTP door, stop intake (store and acknowledge what was taken,
leave the rest to the broker), let the send in progress finish, publish the reports that are
ready, publish `offline`, close both connections, close the database.
Only this module starts tasks, and every task it starts is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bridge import __version__, homeassistant, reports
from bridge.config import Config
from bridge.config_loader import load_config
from bridge.delivery import DeliveryWorker
from bridge.download import download
from bridge.errors import ConfigError, SendError, StartupError
from bridge.events import Acknowledge, Delivery, DeliveryReport, InboundMessage
from bridge.homeassistant import HomeAssistant
from bridge.housekeeping import Housekeeping
from bridge.http import HttpIngress
from bridge.intake import Intake
from bridge.mqtt import MqttSession
from bridge.outbox import Outbox, OutboxRunner
from bridge.outbox_records import OutboxStats
from bridge.pacing import Pacer
from bridge.pipeline import Outcome, Pipeline, event_id_from
from bridge.policy import delivery_policies
from bridge.reporter import Reporter
from bridge.requests import RequestError, RequestHandler, handle_request
from bridge.rooms import RoomDirectory
from bridge.status import BridgeStatus
from bridge.throttle import Throttles
from bridge.wechat import WeChatClient, link_tls
from bridge.wechat_types import ConnectionProblem, IncomingMessage, LoginState, RoomChange, WeChatEvent

log = logging.getLogger(__name__)

#: How long shutdown waits for the `offline` state to reach the broker.
SHUTDOWN_PUBLISH_SECONDS = 3.0
#: How long shutdown waits for the messages already taken in to be stored and acknowledged.
SHUTDOWN_INTAKE_SECONDS = 5.0
#: How long shutdown waits for finished deliveries' reports; the rest go out at the next start.
SHUTDOWN_REPORTS_SECONDS = 3.0
ROOM_REFRESH_RETRY_SECONDS = 2.0
#: `bridge/info` carries the uptime; refreshed this often so a dashboard shows it moving.
INFO_INTERVAL_SECONDS = 60.0


class Bridge:
    def __init__(self, config: Config, *, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.topics = config.topics
        self.pipeline = Pipeline.from_config(config)
        self.store = OutboxRunner(config.outbox.path, idempotency_window=config.outbox.idempotency_window,
                                  max_pending=config.limits.max_queued)
        self.directory = RoomDirectory(config.rooms)
        self.rooms_ready = asyncio.Event()
        self.started = time.time()
        token = config.wechaty.token.get_secret_value() if config.wechaty.token else ""
        self.wechat = WeChatClient(endpoint=config.wechaty.endpoint, token=token,
                                   send_timeout=config.wechaty.send_timeout, on_event=self._on_wechat_event,
                                   listening=self._listening, tls=link_tls(config.wechaty.tls))
        self.mqtt = MqttSession(
            config.mqtt,
            subscriptions=self._subscriptions(),
            on_message=self._on_message,
            on_connect=self._on_mqtt_connect,
            will=reports.state_publication(self.topics, "offline"),
        )
        self.status = BridgeStatus(self.topics, self.mqtt.publish, self._info)
        self.homeassistant = HomeAssistant(config, self.mqtt.publish)
        self.reporter = Reporter(store=self.store, publish=self._publish_report)
        self.worker = DeliveryWorker(store=self.store, wechat=self.wechat, directory=self.directory,
                                     rooms_ready=self.rooms_ready, on_finished=self.reporter.nudge,
                                     contacts=lambda: self.config.contacts, attachments=config.attachments,
                                     download=download,
                                     pacer=Pacer(config.pacing))
        self.intake = Intake(pipeline=self.pipeline, store=self.store,
                             policies=delivery_policies(config, self.pipeline.router.routes),
                             max_payload_bytes=config.limits.max_payload_bytes, on_stored=self._on_stored,
                             throttles=Throttles.from_config(config, self.pipeline.router.routes))
        self.housekeeping = Housekeeping(store=self.store, keep_finished=config.outbox.keep_finished)
        self.requests: dict[str, RequestHandler] = {
            "health_check": self._request_health_check,
            "reload": self._request_reload,
            "rooms": self._request_rooms,
            "send": self._request_send,
        }
        self._refresh_lock = asyncio.Lock()
        self.http = HttpIngress(config.http, pipeline=lambda: self.pipeline, rooms=lambda: self.config.rooms,
                                accept=self._accept, health=lambda: self._request_health_check({})
                                ) if config.http.enabled else None

    def _subscriptions(self) -> list[str]:
        return [*self.pipeline.router.subscriptions, self.topics.send_filter, self.topics.request_filter,
                *homeassistant.subscriptions(self.config)]

    async def outbox_stats(self) -> OutboxStats:
        """Depth, oldest age and counts per status of the outbox (for `bridge/info`, `health_check`)."""
        return await self.store.run(Outbox.stats, time.time())

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        await self.store.open()
        try:
            for row in await self.store.run(Outbox.recover, time.time()):
                if row.status == "pending":
                    log.warning("delivery %s to room %r was being sent when the bridge stopped: sending it again "
                                "(WeChat may show it twice)", row.event_id, row.room_key)
                else:
                    log.warning("delivery %s to room %r was being sent when the bridge stopped, and an earlier "
                                "send of it was in doubt too: not sent again; it ends failed", row.event_id,
                                row.room_key)
            await self.housekeeping.log_stats("at start-up")
            if self.http is not None:
                await self.http.start()
            async with asyncio.TaskGroup() as group:
                tasks = {
                    name: group.create_task(coro, name=name) for name, coro in (
                        ("mqtt-session", self.mqtt.run()),
                        ("wechat-session", self.wechat.run()),
                        ("intake", self.intake.run()),
                        ("delivery-worker", self.worker.run()),
                        ("reporter", self.reporter.run()),
                        ("outbox-housekeeping", self.housekeeping.run()),
                        ("info-refresh", self._refresh_info()),
                    )
                }
                await stop.wait()
                await self._shutdown(tasks)
        finally:
            await self.store.close()
            log.info("outbox closed")

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        log.info("shutting down")
        if self.http is not None:
            await self.http.stop()
        steps: list[tuple[str, Callable[[], Awaitable[None]], float, tuple[str, ...]]] = [
            ("store the messages taken in", self.intake.close, SHUTDOWN_INTAKE_SECONDS, ("intake",)),
            ("finish the send in progress", self.worker.stop, self.config.wechaty.send_timeout + 1,
             ("delivery-worker",)),
            ("publish the reports", self._drain_reports, SHUTDOWN_REPORTS_SECONDS, ("reporter",)),
            ("publish offline", self._publish_offline, SHUTDOWN_PUBLISH_SECONDS, ()),
        ]
        for what, step, seconds, stopped_after in steps:
            try:
                async with asyncio.timeout(seconds):
                    await step()
            except TimeoutError:
                log.warning("shutdown: could not %s within %.0f s", what, seconds)
            for name in stopped_after:
                tasks[name].cancel()
        with contextlib.suppress(Exception):
            await self.housekeeping.log_stats("at shutdown")
        for task in tasks.values():
            task.cancel()

    async def _drain_reports(self) -> None:
        if self.mqtt.connected.is_set():
            await self.reporter.drain()

    async def _publish_offline(self) -> None:
        if not self.mqtt.connected.is_set():
            return
        await self.mqtt.publish(reports.state_publication(self.topics, "offline"))
        await self.mqtt.flush()

    async def _refresh_info(self) -> None:
        while True:
            await asyncio.sleep(INFO_INTERVAL_SECONDS)
            await self.status.publish_info()

    # --- MQTT side -------------------------------------------------------------------------

    async def _on_mqtt_connect(self) -> None:
        await self.status.replay()
        await self.homeassistant.on_connect()

    async def _on_message(self, message: InboundMessage, ack: Acknowledge) -> None:
        if await self.homeassistant.on_message(message):
            ack()
            return
        name = self.topics.request_name(message.topic)
        if name is None:
            await self.intake.submit(message, ack)
            return
        # Requests are answered, not stored: a redelivered request is simply answered again.
        response = await handle_request(self.requests, name, message.payload)
        await self.mqtt.publish(reports.response_publication(self.topics, name, response))
        ack()

    async def _accept(self, outcome: Outcome) -> DeliveryReport | None:
        """Store a direct send from a request or the HTTP door; returns its rejection, if any."""
        return await self.intake.accept_direct(outcome)

    def _on_stored(self) -> None:
        self.worker.nudge()
        self.reporter.nudge()  # rejections are stored finished

    async def _publish_report(self, report: DeliveryReport) -> asyncio.Future[None]:
        return await self.mqtt.publish(reports.delivery_publication(self.topics, report))

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
        elif isinstance(event, IncomingMessage):
            await self._publish_incoming(event)

    def _listening(self) -> bool:
        """Whether any configured room publishes what people write (read at each message: reload)."""
        return any(room.listening is not None for room in self.config.rooms.values())

    async def _publish_incoming(self, message: IncomingMessage) -> None:
        """A message someone wrote, to `<base>/rooms/<key>/message` of each listening key of its room."""
        for key, resolution in self.directory.resolutions.items():
            listen = self.config.rooms[key].listening if key in self.config.rooms else None
            if listen is None or resolution.room is None or resolution.room.id != message.room_id:
                continue
            if listen.mentioned_only and not message.mentioned_me:
                continue
            if listen.match is not None and not re.search(listen.match, message.text):
                continue
            log.debug("message in room %r from %s: %s", key, message.from_name, message.text)
            await self.mqtt.publish(reports.room_message_publication(self.topics, key, resolution.room, message))

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
        self.worker.nudge()

    # --- status ----------------------------------------------------------------------------

    async def _queue(self) -> dict[str, Any]:
        try:
            stats = await self.outbox_stats()
        except Exception as exc:  # the outbox is closed during start-up and shutdown
            log.debug("outbox statistics unavailable: %s", exc)
            return {"depth": None}
        return {
            "depth": stats.depth,
            "oldest_age": round(stats.oldest_age, 1) if stats.oldest_age is not None else None,
            "sending": stats.sending,
            "unreported": stats.unreported,
            "finished": {status: n for status, n in stats.by_status.items() if status != "pending"},
        }

    async def _info(self) -> dict[str, Any]:
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
            "queue": await self._queue(),
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
            "queue": await self._queue(),
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
                                            event_id=event_id_from(body.get("id")), received_at=time.time(),
                                            mention=body.get("mention", []))
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
            throttles = Throttles.from_config(config, pipeline.router.routes)
        except ConfigError as exc:
            raise RequestError("the new config was not loaded: " + "; ".join(str(p) for p in exc.problems)) from None
        ignored = [section for section in ("mqtt", "wechaty", "limits", "outbox", "http", "attachments", "pacing",
                                          "homeassistant")
                   if getattr(config, section) != getattr(self.config, section)]
        self.config = config.model_copy(update={s: getattr(self.config, s) for s in ignored})
        self.pipeline = pipeline
        self.intake.use(pipeline, delivery_policies(self.config, pipeline.router.routes), throttles)
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
    except* StartupError as group:
        raise group.exceptions[0] from None

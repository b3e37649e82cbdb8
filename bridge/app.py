"""The composition root: builds every stage from the config and runs the bridge's lifecycle.

Start: open the outbox (deliveries left pending resume; reports not yet published go out),
then connect to the broker and to the WeChat gateway side by side; each reconnects on its own.
Data flow: MQTT -> intake -> outbox (commit, then PUBACK) -> delivery worker -> WeChat;
finished rows -> reporter -> <base>/bridge/delivery.
Broker connect: re-publish every retained status topic (state, login, rooms, info).
Login: resolve the configured rooms, then let queued deliveries go out (`bridge.wechat_events`).
WeChat away, a `priority: high` delivery late, one `failed`: the fallback (`bridge.fallback_service`).
Reload (a request, `bridge.requests`): a new runtime swapped in whole; a bad config leaves the
running one untouched.
Shutdown (SIGTERM/SIGINT): close the HTTP door, stop intake (store and acknowledge what was taken,
leave the rest to the broker), let the send in progress finish, publish the reports that are
ready, publish `offline`, close both connections, close the database.
This module builds, starts and stops; what happens on an event is the stages' and `bridge.reactions`'.
Every long-running task is started here and named; a stage may run short-lived tasks of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.chat import IlinkState
from bridge.config.models import Config
from bridge.delivery.pacing import Pacer
from bridge.delivery.worker import DeliveryWorker
from bridge.errors import StartupError
from bridge.fallback.apprise import AppriseNotifier
from bridge.fallback.service import FallbackService
from bridge.homeassistant import HomeAssistant
from bridge.http.overview import Changes, Overview, RecentReports
from bridge.i18n import texts_for
from bridge.inbound.dispatch import Dispatch, subscriptions
from bridge.inbound.intake import Intake
from bridge.inbound.requests import Requests
from bridge.inbound.timers import Timers
from bridge.links import Link
from bridge.metrics import Metrics
from bridge.mqtt.session import MqttSession
from bridge.outbox.housekeeping import Housekeeping
from bridge.outbox.runner import OutboxRunner
from bridge.pipeline.runtime import LiveRuntime, Runtime
from bridge.reactions.bridge import BrokerConnected, LinkChanged, Nudges, Reloaded
from bridge.reactions.incoming import IncomingMessages
from bridge.reactions.official import OfficialReactions
from bridge.reactions.wechat import WeChatEvents
from bridge.reporting import payloads as reports
from bridge.reporting.info import BridgeInfo
from bridge.reporting.reporter import DeliveryPublisher, Reporter
from bridge.reporting.status import BridgeStatus
from bridge.wechat.rooms import RoomDirectory
from bridge.wechat.transports import NoGateway, TransportOpenings, Transports

if TYPE_CHECKING:  # built only when the config uses them: grpc and aiohttp's server load with them
    from bridge.http.door import HttpIngress
    from bridge.http.prometheus import PrometheusMetrics
    from bridge.wechat.client import WeChatClient
    from bridge.wechat.official import OfficialBots

log = logging.getLogger(__name__)

#: How long shutdown waits for the `offline` state to reach the broker.
SHUTDOWN_PUBLISH_SECONDS = 3.0
#: How long shutdown waits for the messages already taken in to be stored and acknowledged.
SHUTDOWN_INTAKE_SECONDS = 5.0
#: How long shutdown waits for finished deliveries' reports; the rest go out at the next start.
SHUTDOWN_REPORTS_SECONDS = 3.0


class Bridge:
    """Every stage built from the config, in the order data flows; `run` starts and stops them."""

    def __init__(self, config: Config, *, config_path: Path | None = None) -> None:
        self.config = config  # the restart-only sections in force; the rest is read from `live`
        self.live = live = LiveRuntime(Runtime.compile(config))
        topics = config.topics
        store = OutboxRunner(config.outbox.path, idempotency_window=config.outbox.idempotency_window,
                             max_pending=config.limits.max_queued, fallback_on=config.fallback.enabled,
                             forward_failed=config.fallback.also_on_failed)
        self.store = store
        directory = RoomDirectory()
        rooms_ready = asyncio.Event()
        # Prometheus counters only where /metrics can be scraped: the HTTP door serves it.
        self.prometheus = _prometheus() if config.http.enabled else None
        metrics = self.prometheus or Metrics()
        # What the status page shows changed: the page's signal and recent reports come first, so
        # the stages that change them are handed their methods.
        changes = Changes()
        recent = RecentReports(changes=changes, debug=lambda: config.log_level == "debug")
        on_link = LinkChanged(metrics=metrics, notify=changes.notify)
        links = {name: Link(name, on_change=on_link) for name in ("broker", "gateway")}

        # The two outside connections, and the stages that only need them.
        self.mqtt = MqttSession(config.mqtt, subscriptions=subscriptions(live.current),
                                will=reports.state_publication(topics, "offline"), connection=links["broker"])
        incoming = IncomingMessages(live=live, directory=directory, publish=self.mqtt.publish)
        # The ways into WeChat the rooms use: a gateway for group chats (grpc is loaded only then),
        # the official bot for people (rooms with `ilink:`).
        self.gateway = _gateway(config, listening=incoming.listening, connection=links["gateway"], metrics=metrics)
        self.official = _official(config, live)
        self.wechat = Transports(gateway=self.gateway, official=self.official)
        # Each person's official bot as last published: kept by the status topics, read by `bridge/info`.
        ilink_states: dict[str, IlinkState] | None = {} if self.official is not None else None
        self.info = BridgeInfo(store=store, broker=self.mqtt, wechat=self.wechat, directory=directory, live=live,
                               started=time.time(), ilink=ilink_states)
        self.status = BridgeStatus(topics=topics, publish=self.mqtt.publish, info=self.info.info, metrics=metrics,
                                   on_change=changes.notify, ilink=ilink_states)
        self.homeassistant = HomeAssistant(config, self.mqtt.publish)

        # Outbox -> WeChat -> reports, and the fallback beside them.
        self.reporter = Reporter(store=store, publish=DeliveryPublisher(topics, self.mqtt.publish), metrics=metrics,
                                 observe=recent.add)
        self.fallback = FallbackService(config.fallback, store=store, live=live, event=self.status.event,
                                        notifier=AppriseNotifier.of(config.fallback), on_finished=self.reporter.nudge)
        # Each person's official bot, on the status topics, the page and to the fallback; told when
        # what waits for them changes (a delivery stored or finished).
        self.official_events = OfficialReactions(
            bots=self.official, live=live, store=store, status=self.status, incoming=incoming,
            on_login=self.fallback.on_login, gateway_used=self.gateway is not None,
            account=self.wechat.set_account, directory=directory) if self.official is not None else None
        waiting_changed = (self.official_events.changed,) if self.official_events is not None else ()
        self.worker = DeliveryWorker(store=store, wechat=self.wechat, directory=directory, rooms_ready=rooms_ready,
                                     on_finished=Nudges(self.reporter.nudge, *waiting_changed),
                                     contacts=live.contacts, attachments=config.attachments, download=_download,
                                     pacer=Pacer(config.pacing), metrics=metrics, quiet=live.quiet,
                                     openings=TransportOpenings(live=live, rooms_ready=rooms_ready,
                                                                official=self.official))
        # A stored event may be due at once, be finished already (a rejection), go out through the
        # fallback at once (`fallback: always`) or arm a `for` timer.
        self.timers = Timers(live=live, store=store,
                             on_stored=Nudges(self.worker.nudge, self.fallback.nudge, self.reporter.nudge,
                                              *waiting_changed))
        self.intake = Intake(live=live, store=store, metrics=metrics,
                             on_stored=Nudges(self.worker.nudge, self.fallback.nudge, self.reporter.nudge,
                                              self.timers.nudge, *waiting_changed))
        self.housekeeping = Housekeeping(store=store, keep_finished=config.outbox.keep_finished)

        # What WeChat reports, and what arrives on MQTT.
        self.wechat_events = WeChatEvents(
            wechat=self.gateway or NoGateway(), live=live, directory=directory, status=self.status,
            homeassistant=self.homeassistant, incoming=incoming, rooms_ready=rooms_ready, on_rooms=self.worker.nudge,
            on_login=self.official_events.gateway_login if self.official_events else self.fallback.on_login)
        reloaded = Reloaded(subscribe=self.mqtt.set_subscriptions, subscriptions=subscriptions,
                            homeassistant=self.homeassistant, wechat_events=self.wechat_events, status=self.status,
                            official=self.official_events)
        requests = Requests(live=live, config_path=config_path, info=self.info, wechat=self.wechat,
                            rooms=self.wechat_events, status=self.status, accept=self.intake.accept_direct,
                            on_reload=reloaded)
        self.dispatch = Dispatch(topics=topics, homeassistant=self.homeassistant, requests=requests,
                                 intake=self.intake, publish=self.mqtt.publish)
        self.on_broker_connect = BrokerConnected(status=self.status, homeassistant=self.homeassistant)

        overview = Overview(status=self.status, links=links, directory=directory, live=live,
                            queue=self.info.outbox_stats, debug=lambda: config.log_level == "debug",
                            changes=changes, recent=recent, ilink=self.official)
        self.http = _http_door(config, live=live, accept=self.intake.accept_direct, health=self.info.health,
                               overview=overview, metrics=self.prometheus) if config.http.enabled else None

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        await self.store.open()
        try:
            await self.housekeeping.recover()
            await self.housekeeping.log_stats("at start-up")
            if self.http is not None:
                await self.http.start()
            async with asyncio.TaskGroup() as group:
                tasks = {
                    name: group.create_task(coro, name=name) for name, coro in (
                        ("mqtt-session", self.mqtt.run(on_message=self.dispatch, on_connect=self.on_broker_connect)),
                        *self._transport_tasks(),
                        ("intake", self.intake.run()),
                        ("delivery-worker", self.worker.run()),
                        ("reporter", self.reporter.run()),
                        ("outbox-housekeeping", self.housekeeping.run()),
                        ("for-timers", self.timers.run()),
                        ("fallback", self.fallback.run()),
                        ("info-refresh", self.status.refresh_info()),
                    )
                }
                await stop.wait()
                await self._shutdown(tasks)
        finally:
            await self.store.close()
            log.info("outbox closed")

    def _transport_tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        tasks: list[tuple[str, Coroutine[Any, Any, None]]] = []
        if self.gateway is not None:
            tasks.append(("wechat-session", self.gateway.run(on_event=self.wechat_events.on_event)))
        if self.official is not None and self.official_events is not None:
            tasks.append(("ilink-bots", self.official.run(on_change=Nudges(self.official_events.changed,
                                                                           self.worker.nudge),
                                                          on_message=self.official_events.message)))
            tasks.append(("ilink-status", self.official_events.run()))
        return tasks

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        log.info("shutting down")
        if self.http is not None:
            await self.http.stop()
        steps: list[tuple[str, Callable[[], Awaitable[None]], float, tuple[str, ...]]] = [
            ("store the messages taken in", self.intake.close, SHUTDOWN_INTAKE_SECONDS, ("intake",)),
            ("finish the send in progress", self.worker.stop, self.config.wechaty.send_timeout + 1,
             ("delivery-worker",)),
            ("finish the fallback send", self.fallback.stop, self.config.fallback.timeout + 3, ("fallback",)),
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
        await self.mqtt.publish(reports.state_publication(self.config.topics, "offline"))
        await self.mqtt.flush()


# Each outside library is loaded only when its part of the config is there (aiohttp's server and
# prometheus_client with `http`, grpc with a group chat, Apprise with `fallback`): a small machine
# running the official bot alone does not pay for the rest.

def _prometheus() -> PrometheusMetrics:
    from bridge.http.prometheus import PrometheusMetrics

    return PrometheusMetrics()


def _http_door(config: Config, *, live: LiveRuntime, accept: Any, health: Any, overview: Overview,
               metrics: PrometheusMetrics | None) -> HttpIngress:
    from bridge.http.door import HttpIngress

    return HttpIngress(config.http, live=live, accept=accept, health=health, overview=overview, metrics=metrics)


async def _download(url: str, *, max_bytes: int, seconds: float) -> bytes:
    """An attachment's URL, fetched with aiohttp's client, loaded at the first URL attachment."""
    from bridge.http.download import download

    return await download(url, max_bytes=max_bytes, seconds=seconds)


def _gateway(config: Config, *, listening: Callable[[], bool], connection: Link,
             metrics: Metrics) -> WeChatClient | None:
    """The puppet-service gateway's client, when a room is a group chat (grpc is imported only then)."""
    if not config.uses_gateway:
        return None
    from bridge.wechat.capabilities import gateway_capabilities
    from bridge.wechat.client import WeChatClient, link_tls

    token = config.wechaty.token.get_secret_value() if config.wechaty.token else ""
    return WeChatClient(endpoint=config.wechaty.endpoint, token=token, send_timeout=config.wechaty.send_timeout,
                        listening=listening, tls=link_tls(config.wechaty.tls), connection=connection,
                        metrics=metrics, capabilities=gateway_capabilities(config.wechaty.puppet))


def _official(config: Config, live: LiveRuntime) -> OfficialBots | None:
    """The official bots of the people the rooms name (rooms with `ilink:`), loaded only then."""
    if not config.ilink_people:
        return None
    from bridge.wechat.official import OfficialBots

    return OfficialBots(settings=config.ilink, directory=config.ilink_credentials,
                        people=lambda: live.current.config.ilink_people,
                        texts=lambda: texts_for(live.current.config.locale))


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

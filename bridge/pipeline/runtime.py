"""The config compiled once: every route, room, contact and limit the stages read, as one value.

`Runtime.compile(config)` checks and compiles everything (templates, `when`, throttle keys,
attachment specs, policies) and raises one `ConfigError` listing every problem, as `check`
does. The result is immutable: the intake, the pipeline, the HTTP door and the WeChat side read
the same `LiveRuntime`, whose one reference a reload swaps. A message planned with the old
runtime keeps it; the next one sees the new one; no stage ever sees half a reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.config.models import Config, LimitsSettings, PacingSettings
from bridge.config.rooms import ContactSettings, RoomSettings
from bridge.config.routes import AttachmentsSettings
from bridge.events import DeliveryPolicy
from bridge.i18n import texts_for
from bridge.pipeline.quiet_hours import QuietHours
from bridge.pipeline.routing import Route, RouteMatch, compile_routes, direct_policy, match_routes
from bridge.pipeline.templates import TemplateEngine
from bridge.topics import TopicFilter, Topics

#: Sections a reload does not apply: they set up connections, files and tasks opened at start-up.
RESTART_ONLY = ("mqtt", "wechaty", "ilink", "limits", "outbox", "http", "attachments", "pacing", "homeassistant",
                "fallback")


@dataclass(kw_only=True, frozen=True, slots=True)
class Runtime:
    """What the running bridge does with a message, compiled from `config`."""

    #: The config in force (after a reload: the running one's restart-only sections).
    config: Config
    routes: tuple[Route, ...]
    topics: Topics
    rooms: Mapping[str, RoomSettings]
    contacts: Mapping[str, ContactSettings]
    limits: LimitsSettings
    attachments: AttachmentsSettings
    pacing: PacingSettings
    #: How direct sends are tried (`delivery` defaults: a direct send has no route of its own).
    direct_policy: DeliveryPolicy
    #: Each room's quiet window (its own, else `pacing.quiet_hours`).
    quiet: QuietHours = field(default_factory=QuietHours)

    @classmethod
    def compile(cls, config: Config) -> Runtime:
        """Raises `ConfigError` with every problem found, not only the first."""
        routes = compile_routes(config, TemplateEngine(texts_for(config.locale)))
        return cls(config=config, routes=routes, topics=config.topics, rooms=config.rooms, contacts=config.contacts,
                   limits=config.limits, attachments=config.attachments, pacing=config.pacing,
                   direct_policy=direct_policy(config.delivery), quiet=QuietHours.of(config.rooms, config.pacing))

    def reloaded(self, loaded: Config) -> tuple[Runtime, list[str]]:
        """The runtime of a re-read config, and the sections in it that only a restart applies.

        Those sections are kept as they run. Raises `ConfigError`; then nothing changed.
        """
        ignored = [s for s in RESTART_ONLY if getattr(loaded, s) != getattr(self.config, s)]
        return Runtime.compile(loaded.model_copy(update={s: getattr(self.config, s) for s in ignored})), ignored

    def match(self, topic: str) -> list[RouteMatch]:
        return match_routes(self.routes, topic)

    @property
    def route_subscriptions(self) -> list[str]:
        """The MQTT filters of the routes, and of the topics their attachments are kept from, each once."""
        return list(dict.fromkeys([*(route.filter.mqtt for route in self.routes),
                                   *(f.mqtt for f in self.kept_filters)]))

    @property
    def kept_filters(self) -> tuple[TopicFilter, ...]:
        """The topics whose latest message a route attaches (`image: {topic: ...}`)."""
        return tuple(r.attachment.kept_filter for r in self.routes
                     if r.attachment is not None and r.attachment.kept_filter is not None)


class LiveRuntime:
    """The runtime in force, shared by the stages: a reload swaps this one reference."""

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime

    def swap(self, runtime: Runtime) -> None:
        self.current = runtime

    def contacts(self) -> Mapping[str, ContactSettings]:
        """The contacts in force, read at each send (the delivery worker's view of a reload)."""
        return self.current.contacts

    def quiet(self) -> QuietHours:
        """Each room's quiet hours in force, read at each claim (the worker's view of a reload)."""
        return self.current.quiet

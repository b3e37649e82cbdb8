"""Routes compiled from the config, and which of them an MQTT topic matches (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from bridge.config import Config, RouteSettings
from bridge.errors import ConfigError, ConfigProblem
from bridge.templates import CompiledExpression, CompiledTemplate, TemplateEngine
from bridge.topics import TopicFilter, TopicMatch


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """A route's image or file: the MQTT payload itself, or a URL or path rendered per event."""

    kind: Literal["image", "file"]
    from_payload: bool
    url: CompiledTemplate | None = None
    path: CompiledTemplate | None = None
    name: CompiledTemplate | None = None


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    filter: TopicFilter
    rooms: tuple[str, ...]
    template: CompiledTemplate | None
    when: CompiledExpression | None
    retained: bool
    mentions: tuple[str, ...] = ()
    attachment: AttachmentSpec | None = None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    match: TopicMatch


class Router:
    """Finds the routes for a topic, in config order."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    @property
    def subscriptions(self) -> list[str]:
        """The MQTT filters to subscribe to, each once, in config order."""
        return list(dict.fromkeys(route.filter.mqtt for route in self.routes))

    def match(self, topic: str) -> list[RouteMatch]:
        found = []
        for route in self.routes:
            match = route.filter.match(topic)
            if match is not None:
                found.append(RouteMatch(route, match))
        return found


def compile_routes(config: Config, engine: TemplateEngine) -> list[Route]:
    """Compile every route; raise `ConfigError` with every template problem and duplicate name."""
    problems: list[ConfigProblem] = []
    explicit: Counter[str] = Counter(r.name for r in config.routes if r.name is not None)
    for route in config.routes:
        if route.name is not None and explicit[route.name] > 1:
            problems.append(route.problem(("name",), f"route name {route.name!r} is used by more than one route"))
    names = _route_names(config.routes, explicit)
    routes = []
    for settings, name in zip(config.routes, names, strict=True):
        sources = {"template": settings.template, "when": settings.when,
                   # compiled by the throttle module, checked here so that `check` lists every problem at once
                   "throttle.key": settings.throttle.key if settings.throttle is not None else None}
        # Every locale's text, not only the one in use: `check` on an English config catches a broken Chinese one.
        sources |= {f"translations.{locale}": text for locale, text in settings.translations.items()}
        attachment = settings.attachment
        if attachment is not None and not isinstance(attachment[1], str):
            kind, source = attachment
            for field in ("url", "path", "name"):
                sources[f"{kind}.{field}"] = getattr(source, field)
        errors = 0
        for key, source_text in sources.items():
            if source_text is None:
                continue
            check = engine.check_expression if key == "when" else engine.check_template
            error = check(source_text)
            if error:
                errors += 1
                problems.append(settings.problem(tuple(key.split(".")), error))
        if errors:
            continue
        routes.append(Route(
            name=name,
            filter=TopicFilter.parse(settings.topic),
            rooms=tuple(settings.rooms),
            template=engine.compile(text) if (text := settings.template_in(config.locale)) is not None else None,
            when=engine.compile_expression(settings.when) if settings.when is not None else None,
            retained=settings.retained,
            mentions=tuple(settings.mention),
            attachment=_attachment(settings, engine),
        ))
    if problems:
        raise ConfigError(problems)
    return routes


def _attachment(settings: RouteSettings, engine: TemplateEngine) -> AttachmentSpec | None:
    if settings.attachment is None:
        return None
    kind, source = settings.attachment
    if isinstance(source, str):
        return AttachmentSpec(kind, from_payload=True)

    def compiled(text: str | None) -> CompiledTemplate | None:
        return engine.compile(text) if text is not None else None

    return AttachmentSpec(kind, from_payload=False, url=compiled(source.url), path=compiled(source.path),
                          name=compiled(source.name))


def _route_names(routes: list[RouteSettings], explicit: Counter[str]) -> list[str]:
    """A route without a name is named by its topic filter; `#2`, `#3`… tell repeats apart."""
    seen: Counter[str] = Counter()
    names = []
    for route in routes:
        if route.name is not None:
            names.append(route.name)
            continue
        seen[route.topic] += 1
        name = route.topic if seen[route.topic] == 1 else f"{route.topic}#{seen[route.topic]}"
        while name in explicit:
            name += "'"
        names.append(name)
    return names

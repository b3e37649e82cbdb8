"""Routes compiled from the config, each carrying everything it needs, and which a topic matches (pure).

A compiled `Route` holds its topic filter, template, `when`, attachment spec, delivery policy
and throttle: the pipeline reads one route and has all of it, so nothing is paired by position.

A route's `throttle: {period: 5m, key: "{{ payload.device }}"}` lets at most one event per key
per period through it. The key is rendered here from the route's template variables; whether
that key passed recently is decided by the outbox, in the transaction that stores the event, so
the decision survives restarts and a burst is decided in arrival order (`bridge.admission`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from bridge.config import Config, DeliverySettings, RetrySettings, RouteSettings
from bridge.errors import ConfigError, ConfigProblem, EventRejected
from bridge.events import DeliveryPolicy, FallbackMode, ThrottleMark
from bridge.i18n import Locale
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
class Throttle:
    """A route's throttle: the compiled key and how long a key stays closed after an event passed."""

    key: CompiledTemplate
    period: float

    def mark(self, route: str, context: dict[str, Any]) -> ThrottleMark:
        """The event's throttle scope; raises `EventRejected` when the key cannot be rendered."""
        try:
            key = self.key.render(context)
        except EventRejected as exc:
            raise type(exc)(f"the throttle key: {exc}") from None
        return ThrottleMark(route, key, self.period)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    filter: TopicFilter
    rooms: tuple[str, ...]
    template: CompiledTemplate | None
    when: CompiledExpression | None
    retained: bool
    policy: DeliveryPolicy
    mentions: tuple[str, ...] = ()
    attachment: AttachmentSpec | None = None
    throttle: Throttle | None = None
    fallback: FallbackMode = "default"


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    match: TopicMatch


def match_routes(routes: tuple[Route, ...], topic: str) -> list[RouteMatch]:
    """The routes `topic` matches, in config order."""
    found = []
    for route in routes:
        match = route.filter.match(topic)
        if match is not None:
            found.append(RouteMatch(route, match))
    return found


def direct_policy(defaults: DeliverySettings) -> DeliveryPolicy:
    """The policy of direct sends (`<base>/send/<key>`, the `send` request, the HTTP door)."""
    return _policy(defaults.retry, defaults.expire_after)


def compile_routes(config: Config, engine: TemplateEngine) -> tuple[Route, ...]:
    """Compile every route; raise `ConfigError` with every template problem and duplicate name."""
    problems: list[ConfigProblem] = []
    names = _RouteNames(config.routes)
    routes = []
    for settings in config.routes:
        name = names.next(settings)
        if settings.name is not None and names.explicit[settings.name] > 1:
            problems.append(settings.problem(("name",), f"route name {settings.name!r} is used by more than one route"))
        found = _problems(settings, engine)
        if settings.fallback == "always" and not config.fallback.enabled:
            found.append(settings.problem(("fallback",), "'always' sends through the fallback, and fallback.urls "
                                          "is empty: give at least one Apprise URL there"))
        if found:
            problems.extend(found)
            continue
        routes.append(_compile(settings, name, engine, config.delivery, config.locale))
    if problems:
        raise ConfigError(problems)
    return tuple(routes)


def _problems(settings: RouteSettings, engine: TemplateEngine) -> list[ConfigProblem]:
    """Every template and expression of the route checked, so that `check` lists every problem at once."""
    sources = {"template": settings.template, "when": settings.when,
               "throttle.key": settings.throttle.key if settings.throttle is not None else None}
    # Every locale's text, not only the one in use: `check` on an English config catches a broken Chinese one.
    sources |= {f"translations.{locale}": text for locale, text in settings.translations.items()}
    attachment = settings.attachment
    if attachment is not None and not isinstance(attachment[1], str):
        kind, source = attachment
        for field in ("url", "path", "name"):
            sources[f"{kind}.{field}"] = getattr(source, field)
    problems = []
    for key, source_text in sources.items():
        if source_text is None:
            continue
        check = engine.check_expression if key == "when" else engine.check_template
        error = check(source_text)
        if error:
            problems.append(settings.problem(tuple(key.split(".")), error))
    return problems


def _compile(settings: RouteSettings, name: str, engine: TemplateEngine, defaults: DeliverySettings,
             locale: Locale) -> Route:
    throttle, text = settings.throttle, settings.template_in(locale)
    return Route(
        name=name,
        filter=TopicFilter.parse(settings.topic),
        rooms=tuple(settings.rooms),
        template=engine.compile(text) if text is not None else None,
        when=engine.compile_expression(settings.when) if settings.when is not None else None,
        retained=settings.retained,
        policy=_policy(settings.retry or defaults.retry,
                       settings.expire_after if settings.expire_after is not None else defaults.expire_after,
                       1 if settings.priority == "high" else 0),
        mentions=tuple(settings.mention),
        attachment=_attachment(settings, engine),
        throttle=Throttle(engine.compile(throttle.key), throttle.period) if throttle is not None else None,
        fallback=settings.fallback,
    )


def _policy(retry: RetrySettings, expire_after: float | None, priority: int = 0) -> DeliveryPolicy:
    return DeliveryPolicy(retry.attempts, retry.backoff, retry.max_backoff, expire_after, priority)


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


class _RouteNames:
    """A route without a name is named by its topic filter; `#2`, `#3`… tell repeats apart."""

    def __init__(self, routes: list[RouteSettings]) -> None:
        self.explicit: Counter[str] = Counter(r.name for r in routes if r.name is not None)
        self._seen: Counter[str] = Counter()

    def next(self, route: RouteSettings) -> str:
        if route.name is not None:
            return route.name
        self._seen[route.topic] += 1
        name = route.topic if self._seen[route.topic] == 1 else f"{route.topic}#{self._seen[route.topic]}"
        while name in self.explicit:
            name += "'"
        return name

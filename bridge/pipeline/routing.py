"""Routes compiled from the config, each carrying everything it needs, and which a topic matches (pure).

A compiled `Route` holds its topic filter, template, `when`, attachment spec, delivery policy
and throttle: the pipeline reads one route and has all of it, so nothing is paired by position.

A route's `throttle: {period: 5m, key: "{{ payload.device }}"}` lets at most one event per key
per period through it. The key is rendered here from the route's template variables; whether
that key passed recently is decided by the outbox, in the transaction that stores the event, so
the decision survives restarts and a burst is decided in arrival order (`bridge.admission`).

`changed`, `key` and `for` (`RouteState`) work the same way: the key and the `changed` value are
rendered here, into a `StateMark`; the outbox compares the value with the one it remembers, and
arms, cancels or fires the key's `for` timer, in the transaction that stores the event.

`silence` (`SilenceSpec`) renders only the key here; the outbox restarts the key's silence timer,
and `bridge.pipeline.watch` renders the silence and "back" messages when the timers task fires
them. `batch` (`BatchSpec`) renders each event's item here; the outbox gathers the events.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from bridge.config.models import Config, DeliverySettings
from bridge.config.routes import BatchSettings, RetrySettings, RouteSettings
from bridge.errors import ConfigError, ConfigProblem, EventRejected, TopicFilterError
from bridge.events import (
    BatchMark,
    DeliveryPolicy,
    FallbackMode,
    HeldMessage,
    SilenceMark,
    StateMark,
    ThrottleMark,
)
from bridge.i18n import Locale
from bridge.pipeline.templates import CompiledExpression, CompiledTemplate, TemplateEngine
from bridge.topics import TopicFilter, TopicMatch


@dataclass(kw_only=True, frozen=True, slots=True)
class AttachmentSpec:
    """A route's image or file: the MQTT payload itself, or a URL or path rendered per event."""

    kind: Literal["image", "file"]
    from_payload: bool
    url: CompiledTemplate | None = None
    path: CompiledTemplate | None = None
    name: CompiledTemplate | None = None
    #: The topic whose latest message is the attachment, and the filter subscribed to for it.
    topic: CompiledTemplate | None = None
    kept_filter: TopicFilter | None = None


def kept_filter(template: str) -> TopicFilter:
    """The filter that catches every topic a `topic:` template can render to: a level with a template
    in it is any level (`frigate/{{ camera }}/person/snapshot` -> `frigate/+/person/snapshot`)."""
    levels = ["+" if "{{" in level or "{%" in level else level for level in template.split("/")]
    return TopicFilter.parse("/".join(levels))


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


#: `{{ payload.contact }}`: a `changed` template that is one expression is evaluated as one, so its
#: value keeps its JSON spelling (`false`, `21.5`), and a plain path names it in sentences.
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)+)\}\}\s*$", re.DOTALL)
_PATH = re.compile(r"^\s*(?:payload\.)?(?P<name>[A-Za-z_][\w.]*)\s*$")


@dataclass(kw_only=True, frozen=True, slots=True)
class ChangeSpec:
    """A route's `changed`: the value compared per key with the last one seen."""

    source: str
    #: How sentences name the value: `contact` for `{{ payload.contact }}`.
    label: str
    expression: CompiledExpression | None
    template: CompiledTemplate | None
    initial: bool

    def value(self, context: dict[str, Any]) -> str:
        """The value as text; raises `EventRejected` when it cannot be rendered."""
        what = "the 'changed' value"
        if self.expression is not None:
            found = self.expression.evaluate(context, what=what)
            return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False, default=str)
        assert self.template is not None
        return self.template.render(context, what=what, allow_empty=True)


@dataclass(frozen=True, slots=True)
class RouteState:
    """A route's `changed`, `key` and `for`, compiled."""

    key: CompiledTemplate
    changed: ChangeSpec | None
    #: `for`, in seconds.
    hold: float | None

    def mark(self, route: Route, context: dict[str, Any], holds: bool, message: HeldMessage, *,
             fires: bool) -> StateMark:
        """The event's state for its key; raises `EventRejected` when the key cannot be rendered.

        A `changed` value that cannot be rendered is no value: nothing is remembered for this event,
        and its `when` (false) does not cancel the key's timer.
        """
        key = self.key.render(context, what="the key")
        value, hold = None, self.hold
        if self.changed is not None:
            try:
                value = self.changed.value(context)
            except EventRejected:
                if holds and fires:
                    raise
                hold = None  # a report without the value (a battery level alone) says nothing of the state
        changed = self.changed
        return StateMark(route=route.name, key=key, holds=holds, value=value,
                         label=changed.label if changed else "the value", initial=changed.initial if changed else True,
                         hold=hold, message=message if hold else None, rooms=route.rooms, fires=fires)


@dataclass(frozen=True, slots=True)
class SilenceSpec:
    """A route's `silence` and `back`, with the key its timers are kept by."""

    key: CompiledTemplate
    silence: float
    back: bool

    def mark(self, route: Route, context: dict[str, Any], message: HeldMessage, *, event_id: str,
             fires: bool) -> SilenceMark:
        """Raises `EventRejected` when the key cannot be rendered."""
        return SilenceMark(route=route.name, key=self.key.render(context, what="the key"), silence=self.silence,
                           back=self.back, message=message, rooms=route.rooms, event_id=event_id, fires=fires)


@dataclass(kw_only=True, frozen=True, slots=True)
class BatchSpec:
    """A route's `batch`: the window, the count that sends it early, the item and the message templates."""

    window: float
    count: int | None
    item: CompiledTemplate | None
    #: None: the catalog's header and one line per event's text.
    template: CompiledTemplate | None

    def mark(self, route: str, context: dict[str, Any], text: str) -> BatchMark:
        """Raises `EventRejected` when the item cannot be rendered."""
        item = self.item.render(context, what="the batch item") if self.item is not None else text
        return BatchMark(route, self.window, self.count, item)


@dataclass(kw_only=True, frozen=True, slots=True)
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
    state: RouteState | None = None
    fallback: FallbackMode = "default"
    silence: SilenceSpec | None = None
    batch: BatchSpec | None = None


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
               "throttle.key": settings.throttle.key if settings.throttle is not None else None,
               "changed": settings.changed, "key": settings.key}
    if settings.batch is not None:
        sources |= {"batch.item": settings.batch.item, "batch.template": settings.batch.template}
        sources |= {f"batch.translations.{locale}": text for locale, text in settings.batch.translations.items()}
    # Every locale's text, not only the one in use: `check` on an English config catches a broken Chinese one.
    sources |= {f"translations.{locale}": text for locale, text in settings.translations.items()}
    attachment = settings.attachment
    if attachment is not None and not isinstance(attachment[1], str):
        kind, source = attachment
        for field in ("url", "path", "topic", "name"):
            sources[f"{kind}.{field}"] = getattr(source, field)
    problems = _state_problems(settings)
    if attachment is not None and not isinstance(attachment[1], str) and attachment[1].topic is not None:
        try:
            kept_filter(attachment[1].topic)
        except TopicFilterError as exc:
            problems.append(settings.problem((attachment[0], "topic"), str(exc)))
    for key, source_text in sources.items():
        if source_text is None:
            continue
        check = engine.check_expression if key == "when" else engine.check_template
        error = check(source_text)
        if error:
            problems.append(settings.problem(tuple(key.split(".")), error))
    return problems


def _state_problems(settings: RouteSettings) -> list[ConfigProblem]:
    """Combinations of `changed`, `key` and `for` that cannot mean what they say."""
    problems = []
    if settings.hold is not None and settings.when is None:
        problems.append(settings.problem(("for",), "'for' needs a 'when': it is how long 'when' must hold"))
    if settings.key is not None and settings.changed is None and settings.hold is None and settings.silence is None:
        problems.append(settings.problem(("key",), "'key' says what 'changed', 'for' and 'silence' track per "
                                                   "thing: give one of them, or leave 'key' out"))
    if settings.silence is not None:
        others = [name for name, value in (("changed", settings.changed), ("for", settings.hold),
                                           ("batch", settings.batch), ("throttle", settings.throttle)) if value]
        if others:
            problems.append(settings.problem(("silence",), f"'silence' cannot be combined with '{others[0]}': a "
                                             "silence route sends only when the route goes silent and comes back"))
        if settings.attachment is not None:
            problems.append(settings.problem(("silence",), "a silence message is text only: there is no message "
                                             "to take an image or file from; leave out 'image'/'file'"))
    if settings.batch is not None:
        if settings.hold is not None:
            problems.append(settings.problem(("batch",), "'batch' cannot be combined with 'for': a 'for' timer "
                                             "sends one key's message on its own"))
        if settings.attachment is not None or settings.mention:
            problems.append(settings.problem(("batch",), "a batch message is one text: leave out 'image', 'file' "
                                             "and 'mention', or the 'batch'"))
    if not settings.changed_initial and settings.changed is None:
        problems.append(settings.problem(("changed_initial",), "'changed_initial' needs a 'changed'"))
    return problems


def _state(settings: RouteSettings, engine: TemplateEngine) -> RouteState | None:
    if settings.changed is None and settings.hold is None:
        return None
    changed = None
    if settings.changed is not None:
        one = _ONE_EXPRESSION.match(settings.changed)
        expression = None
        if one is not None and engine.check_expression(one["expr"]) is None:
            expression = engine.compile_expression(one["expr"])
        path = _PATH.match(one["expr"]) if one is not None else None
        changed = ChangeSpec(source=settings.changed, label=path["name"] if path else "the value",
                             expression=expression,
                             template=None if expression is not None else engine.compile(settings.changed),
                             initial=settings.changed_initial)
    return RouteState(engine.compile(settings.key or "{{ topic }}"), changed, settings.hold)


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
        state=_state(settings, engine),
        fallback=settings.fallback,
        silence=SilenceSpec(engine.compile(settings.key or "{{ topic }}"), settings.silence, settings.back)
        if settings.silence is not None else None,
        batch=_batch(settings.batch, engine, locale),
    )


def _batch(settings: BatchSettings | None, engine: TemplateEngine, locale: Locale) -> BatchSpec | None:
    if settings is None:
        return None
    text = settings.template_in(locale)
    return BatchSpec(window=settings.window, count=settings.count,
                     item=engine.compile(settings.item) if settings.item is not None else None,
                     template=engine.compile(text) if text is not None else None)


def _policy(retry: RetrySettings, expire_after: float | None, priority: int = 0) -> DeliveryPolicy:
    return DeliveryPolicy(attempts=retry.attempts, backoff=retry.backoff, max_backoff=retry.max_backoff,
                          expire_after=expire_after, priority=priority)


def _attachment(settings: RouteSettings, engine: TemplateEngine) -> AttachmentSpec | None:
    if settings.attachment is None:
        return None
    kind, source = settings.attachment
    if isinstance(source, str):
        return AttachmentSpec(kind=kind, from_payload=True)

    def compiled(text: str | None) -> CompiledTemplate | None:
        return engine.compile(text) if text is not None else None

    return AttachmentSpec(kind=kind, from_payload=False, url=compiled(source.url), path=compiled(source.path),
                          name=compiled(source.name), topic=compiled(source.topic),
                          kept_filter=kept_filter(source.topic) if source.topic is not None else None)


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

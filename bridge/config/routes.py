"""The `routes` section: what an MQTT message becomes, with its attachments, retries, throttle and
state (`changed`, `key`, `for`, `silence`, `batch`); and the attachment limits every route shares."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from bridge.config.fields import ConfigPath, PositiveDuration, Strict
from bridge.config.yaml_source import Path_, YamlDocument
from bridge.errors import ConfigProblem, TopicFilterError
from bridge.events import FallbackMode
from bridge.i18n import Locale
from bridge.topics import TopicFilter

#: Template variables the bridge provides; a named topic level may not shadow them.
RESERVED_TEMPLATE_NAMES = frozenset({"payload", "raw", "topic", "wildcards", "now", "route", "room", "silent",
                                    "silent_for", "silent_since"})


class RetrySettings(Strict):
    """How often a failed send is tried again: `attempts` in all, waiting `backoff`, doubling each time."""

    attempts: Annotated[int, Field(ge=1, le=1000)] = 5
    backoff: PositiveDuration = 2.0
    #: The doubling stops here, so a long retry series does not wait for hours between tries.
    max_backoff: PositiveDuration = 300.0

    @model_validator(mode="after")
    def _cap_not_below_first_wait(self) -> RetrySettings:
        if self.max_backoff < self.backoff:
            raise ValueError(f"max_backoff ({self.max_backoff:g} s) is shorter than backoff ({self.backoff:g} s)")
        return self


class AttachmentSource(Strict):
    """Where a route's image or file comes from: a URL, a local path, or the latest message kept from
    an MQTT topic (templates), with a file name."""

    url: str | None = None
    path: str | None = None
    #: The latest payload on this topic (a Frigate snapshot, `frigate/{{ camera }}/person/snapshot`):
    #: the bridge subscribes to it and keeps the last message of each such topic in memory.
    topic: str | None = None
    name: str | None = None  # a template too; defaults to the last part of the URL, path or topic

    @model_validator(mode="after")
    def _exactly_one_source(self) -> AttachmentSource:
        if sum(source is not None for source in (self.url, self.path, self.topic)) != 1:
            raise ValueError("give exactly one of 'url', 'path' or 'topic' (or write 'payload' for the MQTT "
                             "payload itself)")
        return self


#: `payload`: the MQTT payload is the image or file itself.
AttachmentSetting = Literal["payload"] | AttachmentSource


class AttachmentsSettings(Strict):
    """Limits for images and files, however they arrive."""

    #: Local paths a route may send from must be inside this directory; unset: no local files.
    directory: ConfigPath | None = None
    max_bytes: Annotated[int, Field(ge=1024, le=100 * 1024 * 1024)] = 10 * 1024 * 1024
    download_timeout: PositiveDuration = 15.0


class ThrottleSettings(Strict):
    """At most one event per `key` per `period` through this route; the others end `dropped`."""

    period: PositiveDuration
    #: A template rendered for each event (the route's variables); events with equal keys share a period.
    key: Annotated[str, Field(min_length=1)] = "{{ topic }}"


#: `batch: true`: the window people mean by "at once" when a coordinator restarts or the power flickers.
DEFAULT_BATCH_WINDOW = 30.0


def _batch_shorthand(value: object) -> object:
    """`batch: true` -> a 30 s window; `batch: 10s` -> that window; a mapping as written."""
    if value is True:
        return {"window": DEFAULT_BATCH_WINDOW}
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"window": value}
    return value


class BatchSettings(Strict):
    """Events of the route within `window` (or until `count` of them) become one message."""

    window: PositiveDuration = DEFAULT_BATCH_WINDOW
    #: Send the batch as soon as this many events are in it.
    count: Annotated[int, Field(ge=2, le=1000)] | None = None
    #: How the batch message names each event (a template, the route's variables); default: its text.
    item: Annotated[str, Field(min_length=1)] | None = None
    #: The batch message (a template with `count`, `items`, `texts`, `route`); default: the catalog's
    #: "{count} events on route {route}:" with one line per event's text.
    template: Annotated[str, Field(min_length=1)] | None = None
    translations: dict[Locale, str] = Field(default_factory=dict)

    def template_in(self, locale: Locale) -> str | None:
        return self.translations.get(locale, self.template)


class RouteSettings(Strict):
    """MQTT messages on `topic` become `template` in each of `rooms`, when `when` holds."""

    topic: str
    rooms: Annotated[list[str], Field(min_length=1)]
    template: str | None = None
    #: Contact keys to @-mention in the text.
    mention: list[str] = Field(default_factory=list)
    image: AttachmentSetting | None = None
    file: AttachmentSetting | None = None
    name: Annotated[str, Field(min_length=1)] | None = None
    when: str | None = None
    #: Retained messages are replayed by the broker on every (re)subscribe; alarms must not repeat.
    retained: bool = False
    #: Override `delivery.retry` / `delivery.expire_after` for this route.
    retry: RetrySettings | None = None
    expire_after: PositiveDuration | None = None
    #: Drop repeats of an event within a period (see ThrottleSettings).
    throttle: ThrottleSettings | None = None
    #: `high`: sent before every waiting `normal` delivery.
    priority: Literal["normal", "high"] = "normal"
    #: `always`: also through the fallback at once; `never`: not escalated nor forwarded when failed.
    fallback: FallbackMode = "default"
    #: The template to use instead when the config's `locale` is this one (`zh-CN: "💧 漏水：…"`).
    translations: dict[Locale, str] = Field(default_factory=dict)
    #: A template (or `{{ expression }}`): send only when its value for the `key` differs from the last one.
    changed: Annotated[str, Field(min_length=1)] | None = None
    #: Whether the first value seen for a key counts as a change.
    changed_initial: bool = True
    #: What "the same thing" is for `changed` and `for` (a template); default: the topic.
    key: Annotated[str, Field(min_length=1)] | None = None
    #: Send only if `when` still holds this long after it became true (a durable timer per key).
    hold: PositiveDuration | None = Field(default=None, alias="for")
    #: No message on the route (per `key`) for this long -> one message (`silent` true in the template).
    silence: PositiveDuration | None = None
    #: After a silence, one message when the route is heard again (`silent` false).
    back: bool = True
    #: Gather the route's events for a window into one message (`true`: 30 s; a duration; or a mapping).
    batch: Annotated[BatchSettings | None, BeforeValidator(_batch_shorthand)] = None

    _origin: tuple[YamlDocument, Path_] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _something_to_send(self) -> RouteSettings:
        if self.template is None and self.image is None and self.file is None:
            raise ValueError("a route needs a 'template', an 'image' or a 'file'")
        if self.image is not None and self.file is not None:
            raise ValueError("give 'image' or 'file', not both")
        if self.template is None and self.mention:
            raise ValueError("'mention' needs a 'template': mentions are part of the text")
        if self.template is None and self.translations:
            raise ValueError("'translations' replace the 'template': give a template too")
        return self

    def template_in(self, locale: Locale) -> str | None:
        """The template to send with when the config's locale is `locale`."""
        return self.translations.get(locale, self.template)

    @property
    def attachment(self) -> tuple[Literal["image", "file"], AttachmentSetting] | None:
        if self.image is not None:
            return "image", self.image
        if self.file is not None:
            return "file", self.file
        return None

    @field_validator("topic")
    @classmethod
    def _topic_is_a_filter(cls, value: str) -> str:
        try:
            parsed = TopicFilter.parse(value)
        except TopicFilterError as exc:
            raise ValueError(str(exc)) from None
        clash = RESERVED_TEMPLATE_NAMES.intersection(parsed.segment_names)
        if clash:
            raise ValueError(f"named level {sorted(clash)[0]!r} would hide a template variable of that name")
        return value

    def problem(self, subpath: Path_, message: str) -> ConfigProblem:
        """A problem located in the file and at the key this route came from."""
        if self._origin is None:
            return ConfigProblem("<config>", ".".join(map(str, subpath)), message)
        doc, path = self._origin
        return doc.problem((*path, *subpath), message)

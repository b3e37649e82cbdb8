"""The configuration's pydantic models: every key, its default and its check.

Reading files (includes, environment overrides, every problem with file, key path and line) is
`config_loader.py`'s; a config is loaded once, by the CLI, and passed down; nothing reads it
from a global. Secrets are `SecretStr`, so printing a config or an error never shows them.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyAddress,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from bridge.errors import ConfigProblem, TopicFilterError
from bridge.events import FallbackMode
from bridge.i18n import DEFAULT_LOCALE, Locale, normalize_locale, texts_for
from bridge.topics import TopicFilter, Topics, check_topic_level
from bridge.yaml_source import Path_, YamlDocument

#: Environment variables that override the `wechaty` section, named as the wechaty SDKs name them.
ENV_ENDPOINT = "WECHATY_PUPPET_SERVICE_ENDPOINT"
ENV_TOKEN = "WECHATY_PUPPET_SERVICE_TOKEN"

#: Template variables the bridge provides; a named topic level may not shadow them.
RESERVED_TEMPLATE_NAMES = frozenset({"payload", "raw", "topic", "wildcards", "now", "route", "room"})


def _relative_to_config(path: Path, info: ValidationInfo) -> Path:
    """Relative paths in a config file are relative to that file, not to the working directory."""
    base = (info.context or {}).get("base_dir")
    return path if path.is_absolute() or base is None else Path(base) / path


#: A file path written in a config file.
ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """`2s`, `10m`, `1.5h`, `7d`, `500ms` or a plain number of seconds -> seconds as a float."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '2s', '10m', '1h', '7d'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    raise ValueError(f"{value!r} is not a duration: write a number of seconds or e.g. '500ms', '2s', '10m', '1h', '7d'")


def format_duration(seconds: float) -> str:
    """The short form `parse_duration` reads: 90 -> '90s', 600 -> '10m', 0.25 -> '250ms'."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s" if seconds >= 1 else f"{seconds * 1000:g}ms"


#: Seconds, written in the config as `2s`, `10m`, `1h`, `7d` or a plain number.
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, allow_inf_nan=False)]
#: The same, where zero is allowed (a pacing gap of 0 turns it off).
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    # Unknown keys are errors: a typo such as `tempalte:` must not silently do nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsSettings(_Strict):
    """TLS to the broker. `ca_file` unset: the system's trusted certificates."""

    ca_file: ConfigPath | None = None
    cert_file: ConfigPath | None = None  # a client certificate, for brokers that require one
    key_file: ConfigPath | None = None
    #: Skip the host name check (the certificate chain is still verified); for brokers reached by IP.
    insecure: bool = False

    @model_validator(mode="after")
    def _files_exist(self) -> TlsSettings:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {str(path)!r} is not a readable file")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file for a client certificate, or neither")
        return self


class MqttSettings(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: SecretStr | None = None
    #: The password read from a file (Docker and Kubernetes secrets), instead of `password`.
    password_file: ConfigPath | None = None
    tls: TlsSettings | None = None
    client_id: Annotated[str, Field(min_length=1)] = "wechat-mqtt-bridge"
    base_topic: str = "wechat"
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 60

    @field_validator("base_topic")
    @classmethod
    def _base_topic_is_usable(cls, value: str) -> str:
        try:
            Topics(value)
        except TopicFilterError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _password_from_file(self) -> MqttSettings:
        secret = _secret_from_file(self.password, self.password_file, "password")
        return self if secret is self.password else self.model_copy(update={"password": secret})


class GatewayTlsSettings(_Strict):
    """TLS to the wechaty gateway (`wechaty.tls`); omitted or false: plaintext.

    `ca_file` unset: the system's trusted certificates. `wechaty_ca`: the CA the wechaty project
    publishes (its private key is public too, so this is encryption without authentication).
    """

    ca_file: ConfigPath | None = None
    #: The name to verify in the gateway's certificate instead of the endpoint's host.
    server_name: Annotated[str, Field(min_length=1)] | None = None
    wechaty_ca: bool = False

    @model_validator(mode="after")
    def _one_ca(self) -> GatewayTlsSettings:
        if self.wechaty_ca and self.ca_file is not None:
            raise ValueError("give ca_file or wechaty_ca: true, not both")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {str(self.ca_file)!r} is not a readable file")
        return self


class WechatySettings(_Strict):
    endpoint: str = "127.0.0.1:8788"
    token: SecretStr | None = None
    token_file: ConfigPath | None = None
    #: How long one send may take before it is in doubt (the connection is dropped).
    send_timeout: Annotated[float, Field(gt=0, le=300)] = 30.0
    tls: GatewayTlsSettings | None = None

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_switch(cls, value: Any) -> Any:
        # `tls: false` is plaintext, `tls: true` the system's CAs: the forms a user writes first.
        if value is False:
            return None
        return {} if value is True else value

    @model_validator(mode="after")
    def _token_from_file(self) -> WechatySettings:
        secret = _secret_from_file(self.token, self.token_file, "token")
        return self if secret is self.token else self.model_copy(update={"token": secret})


def _secret_from_file(value: SecretStr | None, path: Path | None, name: str) -> SecretStr | None:
    if path is None:
        return value
    if value is not None:
        raise ValueError(f"give {name} or {name}_file, not both")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {name}_file {str(path)!r}: {type(exc).__name__}") from None
    if not text:
        raise ValueError(f"{name}_file {str(path)!r} is empty")
    return SecretStr(text)


class HttpSettings(_Strict):
    """The optional HTTP door (`POST /sendmessage`, `POST /send/<key>`, `GET /healthz`), the status page
    at `/` and `GET /metrics`."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8780
    token: SecretStr | None = None
    token_file: ConfigPath | None = None
    #: A second bearer token that opens `/metrics` only, so a scraper need not hold the one that sends.
    metrics_token: SecretStr | None = None
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    #: Home Assistant ingress: the Supervisor's address (172.30.32.2), whose requests open the status
    #: page without the token and under its X-Ingress-Path prefix (bridge/http/ingress.py).
    ingress_from: list[IPvAnyAddress] = Field(default_factory=list)

    @model_validator(mode="after")
    def _token_required(self) -> HttpSettings:
        token = _secret_from_file(self.token, self.token_file, "token")
        if self.enabled and (token is None or len(token.get_secret_value()) < 16):
            raise ValueError("an enabled HTTP door needs a token of at least 16 characters (http.token or token_file)")
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
            raise ValueError("http.metrics_token needs at least 16 characters")
        return self if token is self.token else self.model_copy(update={"token": token})


class LimitsSettings(_Strict):
    #: Payloads above this size are rejected before any decoding work.
    max_payload_bytes: Annotated[int, Field(ge=1, le=16 * 1024 * 1024)] = 256 * 1024
    #: Events waiting for WeChat; past it new events are rejected rather than held without bound.
    max_queued: Annotated[int, Field(ge=1)] = 10_000


class ListenSettings(_Strict):
    """Which messages of a listening room are published on `<base>/rooms/<key>/message`."""

    match: str | None = None  # a regular expression the text must contain a match of
    mentioned_only: bool = False  # only messages that @-mention the bridge's account

    @field_validator("match")
    @classmethod
    def _match_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class RetrySettings(_Strict):
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


class DeliverySettings(_Strict):
    """Defaults for every route (a route may override them) and for direct sends."""

    retry: RetrySettings = Field(default_factory=RetrySettings)
    #: An event not delivered this long after the bridge received it ends `expired`; none: wait forever.
    expire_after: PositiveDuration | None = None


class OutboxSettings(_Strict):
    """The SQLite database that holds every accepted event until its report is on the broker."""

    #: Relative paths are relative to the working directory of the bridge process.
    path: Annotated[str, Field(min_length=1)] = "data/outbox.sqlite3"
    #: A payload `id` seen again on the same topic within this time is the same event: not sent twice.
    idempotency_window: PositiveDuration = 86400.0
    #: Finished and reported deliveries are deleted after this time.
    keep_finished: PositiveDuration = 7 * 86400.0


class DigestSettings(_Strict):
    """A room's backlog of plain normal-priority texts merged into one message instead of draining
    at the pace (`bridge.pacing.format_digest`)."""

    enabled: bool = True
    #: Fold when more than this many foldable deliveries for one room are due.
    threshold: Annotated[int, Field(ge=1)] = 5
    #: At most this many deliveries in one digest; the rest wait for the next one.
    max_items: Annotated[int, Field(ge=2, le=500)] = 20
    #: The first line; `{count}` is replaced by the number of items (no other placeholders).
    #: Unset: the locale's (`{count} notifications:`, zh-CN `{count} 条通知：`).
    header: str = "{count} notifications:"
    #: One line per folded delivery; `{text}` is replaced by its text.
    item: str = "\u2022 {text}"

    @field_validator("header", "item")
    @classmethod
    def _no_jinja(cls, value: str) -> str:
        # Everywhere else the config takes Jinja; here `{{ count }}` would be sent as it is.
        if "{{" in value or "{%" in value:
            raise ValueError("the digest item and header are not templates: write {count} and {text}, "
                             "without Jinja's {{ }} or {% %}")
        return value

    @field_validator("item")
    @classmethod
    def _item_has_text(cls, value: str) -> str:
        if "{text}" not in value:
            raise ValueError("the digest item must contain {text}, else the folded texts are lost")
        return value


_CLOCK_TIME = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?\s*$")


def parse_clock_time(value: object) -> object:
    """`"22:30"` or `"06:59:30"` -> a `datetime.time` on the wall clock of the bridge's time zone."""
    if isinstance(value, time):
        return value
    match = _CLOCK_TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time of day: write it as HH:MM (24 h), e.g. '22:30' or '07:00'")
    hour, minute, second = match.groups()
    return time(int(hour), int(minute), int(second or 0))


#: A time of day, written `HH:MM` or `HH:MM:SS`.
ClockTime = Annotated[time, BeforeValidator(parse_clock_time)]


class QuietHoursSettings(_Strict):
    """A room's quiet window: `normal` deliveries due inside it wait, and at its end go out as one
    digest (`then: digest`) or end `dropped` at once (`then: drop`). `priority: high` ignores it.

    The times are the wall clock of the bridge's time zone (`TZ`); `from` later than `to` crosses
    midnight. A window is [from, to): a delivery due at `to` exactly is not held.
    """

    start: ClockTime = Field(alias="from")
    end: ClockTime = Field(alias="to")
    then: Literal["digest", "drop"] = "digest"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursSettings:
        if self.start == self.end:
            raise ValueError(f"the quiet window from {self.start:%H:%M} to {self.end:%H:%M} has no length: "
                             "give two different times (from later than to crosses midnight)")
        return self

    def describe(self) -> str:
        """`22:30-07:00`, with seconds only where they were given."""
        def clock(t: time) -> str:
            return f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}"
        return f"{clock(self.start)}-{clock(self.end)}"


def _quiet_switch(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """`quiet_hours: false` switches a room's window off; validated as a window otherwise. Not a
    union with `Literal[False]`: pydantic would report every mistake in a window twice, once per member."""
    return False if value is False else handler(value)


class PacingSettings(_Strict):
    """How fast the bridge speaks to WeChat: an account that sends too fast gets restricted.

    Limits delay sends, they never drop them. The defaults are a person's pace, not WeChat's
    documented limits (there are none): raise them only for an account that can take it.
    """

    enabled: bool = True
    #: Sends per `period` over all rooms (a token bucket: this many at once, then evenly spread).
    global_limit: Annotated[int, Field(ge=1)] = 20
    #: Sends per `period` into any one room.
    room_limit: Annotated[int, Field(ge=1)] = 10
    period: PositiveDuration = 60.0
    #: At least this long between the end of one send and the start of the next...
    min_gap: Duration = 1.0
    #: ...plus a random extra of up to this much, so the rhythm does not look like a machine's.
    jitter: Duration = 1.0
    #: Longer texts are split into numbered parts `(1/3) ...` (WeChat's own limit is near 5,000).
    #: Counted as WeChat and the gateway count: UTF-16 units (a Chinese character 1, most emoji 2).
    max_text_chars: Annotated[int, Field(ge=100, le=20_000)] = 4000
    #: Put before each part; `{index}` and `{total}` are replaced. Unset: the locale's
    #: (`(1/3) `, zh-CN `（1/3）`).
    part_marker: Annotated[str, Field(max_length=40)] = "({index}/{total}) "
    #: Merge a room's backlog into one message (see `DigestSettings`).
    digest: DigestSettings = DigestSettings()
    #: The quiet window of every room that does not set its own `quiet_hours`; none: no quiet hours.
    quiet_hours: QuietHoursSettings | None = None

    @field_validator("part_marker")
    @classmethod
    def _marker_numbers_the_parts(cls, value: str) -> str:
        fields = set(re.findall(r"\{([^{}]*)\}", value))
        if "{{" in value or "{%" in value or not fields <= {"index", "total"} or "index" not in fields:
            raise ValueError("the part marker is not a template: write {index} (and {total}), "
                             "e.g. '({index}/{total}) '")
        return value


class HomeAssistantSettings(_Strict):
    """Home Assistant MQTT discovery: the bridge's entities appear in HA without any HA config."""

    discovery: bool = True
    #: HA's `discovery_prefix`; HA announces itself on `<prefix>/status`.
    prefix: str = "homeassistant"

    @field_validator("prefix")
    @classmethod
    def _prefix_is_usable(cls, value: str) -> str:
        try:
            Topics(value)  # the same rules as a base topic: no wildcards, no leading or trailing '/'
        except TopicFilterError as exc:
            raise ValueError(str(exc).replace("base_topic", "the discovery prefix")) from None
        return value


class RoomSettings(_Strict):
    """A room the bridge may write to, found by exact topic (name) or by id."""

    topic: Annotated[str, Field(min_length=1)] | None = None
    id: Annotated[str, Field(min_length=1)] | None = None
    #: False: only routes may write here, not `<base>/send/<key>` or the `send` request.
    allow_direct: bool = True
    #: Publish what people write in this room to MQTT (`true`, or filters).
    listen: bool | ListenSettings = False
    #: This room's quiet window (`pacing.quiet_hours` when unset); `false`: none, whatever the default
    #: (then the value is False, which `QuietHours.of` reads as "no window").
    quiet_hours: Annotated[QuietHoursSettings | None, WrapValidator(_quiet_switch)] = None

    @property
    def listening(self) -> ListenSettings | None:
        if self.listen is True:
            return ListenSettings()
        return self.listen or None

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> RoomSettings:
        if (self.topic is None) == (self.id is None):
            raise ValueError("give exactly one of 'topic' (the room name) or 'id'")
        return self

    def describe(self) -> str:
        return f"id {self.id!r}" if self.id is not None else f"topic {self.topic!r}"


class ContactSettings(_Strict):
    """A person the bridge may @-mention, found by exact name or id among a room's members."""

    name: Annotated[str, Field(min_length=1)] | None = None
    id: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> ContactSettings:
        if (self.name is None) == (self.id is None):
            raise ValueError("give exactly one of 'name' or 'id'")
        return self

    def describe(self) -> str:
        return f"id {self.id!r}" if self.id is not None else f"name {self.name!r}"


class AttachmentSource(_Strict):
    """Where a route's image or file comes from: a URL or a local path (templates), with a file name."""

    url: str | None = None
    path: str | None = None
    name: str | None = None  # a template too; defaults to the last part of the URL or path

    @model_validator(mode="after")
    def _exactly_one_source(self) -> AttachmentSource:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of 'url' or 'path' (or write 'payload' for the MQTT payload itself)")
        return self


#: `payload`: the MQTT payload is the image or file itself.
AttachmentSetting = Literal["payload"] | AttachmentSource


class AttachmentsSettings(_Strict):
    """Limits for images and files, however they arrive."""

    #: Local paths a route may send from must be inside this directory; unset: no local files.
    directory: ConfigPath | None = None
    max_bytes: Annotated[int, Field(ge=1024, le=100 * 1024 * 1024)] = 10 * 1024 * 1024
    download_timeout: PositiveDuration = 15.0


class ThrottleSettings(_Strict):
    """At most one event per `key` per `period` through this route; the others end `dropped`."""

    period: PositiveDuration
    #: A template rendered for each event (the route's variables); events with equal keys share a period.
    key: Annotated[str, Field(min_length=1)] = "{{ topic }}"


class RouteSettings(_Strict):
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


class FallbackSettings(_Strict):
    """Where the bridge turns when WeChat cannot be reached: Apprise URLs (`bridge.fallback`)."""

    #: Apprise URLs (`ntfy://...`, `wecombot://...`, `mailto://...`); secrets through `${VAR}` or `urls_file`.
    urls: list[SecretStr] = Field(default_factory=list)
    #: More URLs read from a file, one a line (`#` starts a comment): Docker and Kubernetes secrets.
    urls_file: ConfigPath | None = None
    #: WeChat logged out (or the gateway unreachable) this long: one alert; a reminder every 6 times this.
    logout_after: PositiveDuration = 300.0
    #: A `priority: high` delivery not delivered this long after it arrived goes through the fallback too.
    priority_after: PositiveDuration = 120.0
    #: A delivery that ends `failed` sends its text through the fallback.
    also_on_failed: bool = True
    #: How long one send through one URL may take (Apprise's connect and read time-outs).
    timeout: Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=120)] = 10.0
    #: Tries when every URL fails: 3 tries within about 2 minutes by default.
    retry: RetrySettings = RetrySettings(attempts=3, backoff=20.0, max_backoff=60.0)

    @model_validator(mode="after")
    def _urls_from_file(self) -> FallbackSettings:
        if self.urls_file is None:
            return self
        try:
            lines = self.urls_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read urls_file {str(self.urls_file)!r}: {type(exc).__name__}") from None
        found = [SecretStr(line.strip()) for line in lines if line.strip() and not line.strip().startswith("#")]
        if not found:
            raise ValueError(f"urls_file {str(self.urls_file)!r} holds no URL")
        return self.model_copy(update={"urls": [*self.urls, *found]})

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    @property
    def remind_every(self) -> float:
        return self.logout_after * 6


class MappingFile(_Strict):
    """What an included mapping file may hold."""

    rooms: dict[str, RoomSettings] = Field(default_factory=dict)
    routes: list[RouteSettings] = Field(default_factory=list)
    contacts: dict[str, ContactSettings] = Field(default_factory=dict)

    @field_validator("rooms")
    @classmethod
    def _room_keys_fit_a_topic_level(cls, value: dict[str, RoomSettings]) -> dict[str, RoomSettings]:
        for key in value:
            try:
                check_topic_level(key, "room key")
            except TopicFilterError as exc:
                raise ValueError(f"{exc}; room keys become part of the topic <base>/send/<key>") from None
        return value


class Config(MappingFile):
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    wechaty: WechatySettings = Field(default_factory=WechatySettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    attachments: AttachmentsSettings = Field(default_factory=AttachmentsSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    homeassistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)
    pacing: PacingSettings = Field(default_factory=PacingSettings)
    fallback: FallbackSettings = Field(default_factory=FallbackSettings)
    include: list[str] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: The language of the texts the bridge itself writes (digest header, part marker, `duration`,
    #: `localtime`, the login picture, Home Assistant names); routes pick their `translations`.
    locale: Annotated[Locale, BeforeValidator(normalize_locale)] = DEFAULT_LOCALE

    @model_validator(mode="after")
    def _locale_defaults(self) -> Config:
        """The digest header and part marker the user did not write, in the config's locale."""
        texts = texts_for(self.locale)
        pacing, digest = self.pacing, self.pacing.digest
        if "header" not in digest.model_fields_set:
            digest = digest.model_copy(update={"header": texts.gettext("{count} notifications:")})
        marker = pacing.part_marker
        if "part_marker" not in pacing.model_fields_set:
            marker = texts.gettext("({index}/{total}) ")
        if digest == pacing.digest and marker == pacing.part_marker:
            return self
        return self.model_copy(update={"pacing": pacing.model_copy(update={"digest": digest, "part_marker": marker})})

    @property
    def topics(self) -> Topics:
        return Topics(self.mqtt.base_topic)

"""The configuration's pydantic models: every key, its default and its check.

Reading files (includes, environment overrides, every problem with file, key path and line) is
`bridge.config.loader`'s; a config is loaded once, by the CLI, and passed down; nothing reads it
from a global. Secrets are `SecretStr`, so printing a config or an error never shows them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    IPvAnyAddress,
    SecretStr,
    field_validator,
    model_validator,
)

from bridge.config.fields import (
    ConfigPath,
    Duration,
    PositiveDuration,
    Strict,
    parse_duration,
)
from bridge.config.rooms import ContactSettings, QuietHoursSettings, RoomSettings
from bridge.config.routes import AttachmentsSettings, RetrySettings, RouteSettings
from bridge.errors import TopicFilterError
from bridge.i18n import DEFAULT_LOCALE, Locale, normalize_locale, texts_for
from bridge.topics import Topics, check_topic_level

#: Environment variables that override the `wechaty` section, named as the wechaty SDKs name them.
ENV_ENDPOINT = "WECHATY_PUPPET_SERVICE_ENDPOINT"
ENV_TOKEN = "WECHATY_PUPPET_SERVICE_TOKEN"

class TlsSettings(Strict):
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


class MqttSettings(Strict):
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


class GatewayTlsSettings(Strict):
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


#: What a gateway may run, by the names `bridge.wechat.capabilities` declares what each can carry;
#: `unknown`: learned from its answers (a file send answered UNIMPLEMENTED), per connection.
GatewayPuppet = Literal["unknown", "mock", "wechat4u", "xp", "padlocal", "wechat-skill"]


def _puppet_name(value: Any) -> Any:
    """`wechaty-puppet-wechat4u` (WECHATY_PUPPET's form) is `wechat4u`."""
    return value.removeprefix("wechaty-puppet-") if isinstance(value, str) else value


class WechatySettings(Strict):
    endpoint: str = "127.0.0.1:8788"
    #: What the gateway runs: it decides what the bridge sends there as declared, not by failing.
    puppet: Annotated[GatewayPuppet, BeforeValidator(_puppet_name)] = "unknown"
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


class HttpSettings(Strict):
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


class LimitsSettings(Strict):
    #: Payloads above this size are rejected before any decoding work.
    max_payload_bytes: Annotated[int, Field(ge=1, le=16 * 1024 * 1024)] = 256 * 1024
    #: Events waiting for WeChat; past it new events are rejected rather than held without bound.
    max_queued: Annotated[int, Field(ge=1)] = 10_000


class DeliverySettings(Strict):
    """Defaults for every route (a route may override them) and for direct sends."""

    retry: RetrySettings = Field(default_factory=RetrySettings)
    #: An event not delivered this long after the bridge received it ends `expired`; none: wait forever.
    expire_after: PositiveDuration | None = None


class OutboxSettings(Strict):
    """The SQLite database that holds every accepted event until its report is on the broker."""

    #: Relative paths are relative to the working directory of the bridge process.
    path: Annotated[str, Field(min_length=1)] = "data/outbox.sqlite3"
    #: A payload `id` seen again on the same topic within this time is the same event: not sent twice.
    idempotency_window: PositiveDuration = 86400.0
    #: Finished and reported deliveries are deleted after this time.
    keep_finished: PositiveDuration = 7 * 86400.0


class DigestSettings(Strict):
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


class PacingSettings(Strict):
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


class HomeAssistantSettings(Strict):
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


class FallbackSettings(Strict):
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


class IlinkSettings(Strict):
    """The official WeChat bot (ClawBot) over Tencent's iLink API: used by the rooms with `ilink:`."""

    base_url: Annotated[str, Field(pattern=r"^https?://")] = "https://ilinkai.weixin.qq.com"
    #: Where images and files are uploaded (encrypted) before a message refers to them.
    cdn_base_url: Annotated[str, Field(pattern=r"^https?://")] = "https://novac2c.cdn.weixin.qq.com/c2c"
    #: How long after a person's last message the bot may still write: our estimate, the server decides
    #: (the maintainers say 24 h; users report windows as short as 11-15 h).
    window: PositiveDuration = 24 * 3600.0
    #: Messages the bot may send per message the person writes (about 10, reported upstream).
    per_message: Annotated[int, Field(ge=1, le=100)] = 10
    #: When this many sends remain, the message says so and asks for a reply (0: never).
    nudge_at: Annotated[int, Field(ge=0, le=100)] = 2
    #: After errcode -14 (session expired), no call for this long, as Tencent's client does.
    stale_pause: PositiveDuration = 3600.0
    #: Where each bound person's credentials are kept (one file each, mode 0600); default: the
    #: `ilink` folder beside the outbox.
    credentials: ConfigPath | None = None


class MappingFile(Strict):
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
    ilink: IlinkSettings = Field(default_factory=IlinkSettings)
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

    @property
    def uses_gateway(self) -> bool:
        """Whether any room is a group chat: only then is the gateway (and grpc) needed."""
        return any(room.via_gateway for room in self.rooms.values())

    @property
    def ilink_people(self) -> list[str]:
        """The people bound to the official bot that rooms write to, in config order, once each."""
        return list(dict.fromkeys(room.ilink for room in self.rooms.values() if room.ilink is not None))

    @property
    def ilink_credentials(self) -> Path:
        """The folder of the official bot's credentials: `ilink.credentials`, else beside the outbox."""
        return self.ilink.credentials or Path(self.outbox.path).parent / "ilink"

    @property
    def size(self) -> str:
        """`2 routes, 1 room`: what `check` and `doctor` say about the config (in English, as all CLI output)."""
        routes, rooms = len(self.routes), len(self.rooms)
        return f"{routes} route{'s' * (routes != 1)}, {rooms} room{'s' * (rooms != 1)}"

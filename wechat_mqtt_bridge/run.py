"""The App's entry point: from the Supervisor's options and services to a running bridge.

1. reads the user's options (`/data/options.json`, written by the Supervisor from the App's
   Configuration tab);
2. asks the Supervisor for the MQTT broker (`/services/mqtt`: host, port, user, password, TLS)
   and the time zone (`/info`), with the `SUPERVISOR_TOKEN` it gives every App;
3. writes the bridge's config to `/data/bridge.yaml`: the broker, the gateway when one is given
   (group chats; without one, the official WeChat bot alone), the status page on the ingress port
   (trusting the Supervisor's address; people bind to the official bot there), the outbox in
   `/data` with the bot's bindings beside it; the user's rooms and routes are every `*.yaml` in
   the App's config folder (`/config` here; on the first start a commented `rooms.yaml` is written
   there, sending to you through the official bot);
4. replaces itself with the bridge (`exec`), with TZ set, so the Supervisor's stop signal reaches it.

A bad option ends the start with one log line saying which option and what to do, and exit code 0:
the App stops cleanly instead of failing again and again. The Supervisor's address, and the
address ingress requests come from, can be changed by environment variables for the tests
(SUPERVISOR_URL, INGRESS_FROM, INGRESS_PORT); a real App never sets them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(os.environ.get("APP_DATA", "/data"))
CONFIG_DIR = Path(os.environ.get("APP_CONFIG", "/config"))
SUPERVISOR_URL = os.environ.get("SUPERVISOR_URL", "http://supervisor").rstrip("/")
#: The Supervisor's address on its hassio network: ingress requests come from it.
INGRESS_FROM = os.environ.get("INGRESS_FROM", "172.30.32.2")
#: config.yaml's ingress_port.
INGRESS_PORT = int(os.environ.get("INGRESS_PORT", "8099"))
BRIDGE = "/opt/bridge/bin/wechat-mqtt-bridge"
READY_MADE = Path("/app/mappings")
#: The Supervisor answers in milliseconds; a slow one at boot gets a few seconds before we give up.
SUPERVISOR_TIMEOUT = 10.0
_ENDPOINT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")
_LEVELS = ("debug", "info", "warning", "error")
#: config.yaml's gateway_puppet choices, as the bridge's `wechaty.puppet` takes them.
_PUPPETS = ("unknown", "mock", "wechat4u", "xp", "padlocal", "wechat-skill")

STARTER_ROOMS = """\
# Who gets the messages. Here: you, through the official WeChat bot (ClawBot). Open "WeChat" in
# the sidebar, bind yourself as "me" (scan the QR code with your WeChat), then write to the bot once.
# Every *.yaml file in this folder is read: rooms, routes and contacts, as in the bridge's README.
# The ready-made mappings (the App's option) send to the rooms "family" and "ops".
# Group chats need a gateway (the App's gateway options; README, "Group chats through a gateway"): give such a room
# the group's exact name instead, for example  family: {topic: "Happy Family"}
rooms:
  family: {ilink: me}
  ops: {ilink: me}
"""


class OptionError(Exception):
    """An option the user must change: the App stops with this sentence."""


class SupervisorError(Exception):
    """The Supervisor could not give what the App needs."""


@dataclass(frozen=True, slots=True)
class Options:
    #: None: no gateway, the official bot alone.
    gateway_endpoint: str | None
    gateway_token: str | None
    gateway_puppet: str
    base_topic: str
    discovery: bool
    ready_made_mappings: tuple[str, ...]
    locale: str
    log_level: str


def read_options(path: Path) -> Options:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OptionError(f"cannot read {path}: {exc}") from None
    endpoint = str(raw.get("gateway_endpoint") or "").strip() or None
    token = str(raw.get("gateway_token") or "") or None
    if endpoint is None and token is not None:
        raise OptionError("gateway_token is set but gateway_endpoint is not: give both for group chats through "
                          "a gateway, or neither for the official bot alone")
    if endpoint is not None and not _ENDPOINT.match(endpoint):
        raise OptionError(f"gateway_endpoint {endpoint!r} is not host:port (for example 192.168.1.20:8788)")
    if endpoint is not None and len(token or "") < 16:
        raise OptionError("gateway_token must be the gateway's WECHATY_TOKEN, 16 characters or more")
    puppet = str(raw.get("gateway_puppet") or "unknown")
    if puppet not in _PUPPETS:
        raise OptionError(f"gateway_puppet {puppet!r} is not one of {', '.join(_PUPPETS)}")
    level = str(raw.get("log_level", "info"))
    if level not in _LEVELS:
        raise OptionError(f"log_level {level!r} is not one of {', '.join(_LEVELS)}")
    mappings = tuple(str(m) for m in raw.get("ready_made_mappings") or ())
    for name in mappings:
        if not (READY_MADE / f"{name}.yaml").is_file():
            raise OptionError(f"ready_made_mappings: there is no ready-made mapping {name!r}")
    return Options(gateway_endpoint=endpoint, gateway_token=token, gateway_puppet=puppet,
                   base_topic=str(raw.get("base_topic", "wechat")),
                   discovery=bool(raw.get("discovery", True)), ready_made_mappings=mappings,
                   locale=str(raw.get("locale", "en")), log_level=level)


def supervisor(path: str) -> dict[str, Any]:
    """`data` of a Supervisor API answer."""
    token = os.environ.get("SUPERVISOR_TOKEN")
    if not token:
        raise SupervisorError("SUPERVISOR_TOKEN is not set: the App runs only under the Home Assistant Supervisor")
    request = urllib.request.Request(SUPERVISOR_URL + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=SUPERVISOR_TIMEOUT) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if path == "/services/mqtt" and exc.code == 400:
            raise SupervisorError("no MQTT broker in Home Assistant: install and start the Mosquitto broker "
                                  "App, then start this App again") from None
        raise SupervisorError(f"the Supervisor answered {exc.code} to {path}") from None
    except (OSError, ValueError) as exc:
        raise SupervisorError(f"cannot ask the Supervisor ({SUPERVISOR_URL}{path}): {exc}") from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise SupervisorError(f"the Supervisor's answer to {path} has no data")
    return data


def http_token(data: Path) -> str:
    """The status page's token for callers other than ingress: made once, kept in /data."""
    path = data / "http_token"
    if path.is_file() and len(path.read_text().strip()) >= 16:
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def bridge_config(options: Options, mqtt: dict[str, Any], *, data: Path, config_dir: Path,
                  token: str) -> dict[str, Any]:
    broker: dict[str, Any] = {"host": mqtt["host"], "port": int(mqtt["port"]), "base_topic": options.base_topic,
                              "client_id": "wechat-mqtt-bridge"}
    if mqtt.get("username"):
        broker["username"] = mqtt["username"]
        broker["password"] = mqtt.get("password") or ""
    if mqtt.get("ssl"):
        broker["tls"] = {}
    includes = [str(READY_MADE / f"{name}.yaml") for name in options.ready_made_mappings]
    includes.append(str(config_dir / "*.yaml"))
    gateway = {} if options.gateway_endpoint is None else {"wechaty": {
        "endpoint": options.gateway_endpoint, "token": options.gateway_token, "puppet": options.gateway_puppet}}
    return {
        "mqtt": broker,
        **gateway,
        "http": {"enabled": True, "host": "0.0.0.0", "port": INGRESS_PORT, "token": token,
                 "ingress_from": [INGRESS_FROM]},
        "outbox": {"path": str(data / "outbox.sqlite3")},
        "homeassistant": {"discovery": options.discovery},
        "locale": options.locale,
        "log_level": options.log_level,
        "include": includes,
    }


def prepare() -> tuple[Path, str]:
    """Write the bridge's config; return its path and the time zone."""
    options = read_options(DATA / "options.json")
    mqtt = supervisor("/services/mqtt")
    timezone = str(supervisor("/info").get("timezone") or "UTC")
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    if not any(CONFIG_DIR.glob("*.yaml")):
        (CONFIG_DIR / "rooms.yaml").write_text(STARTER_ROOMS)
    config = bridge_config(options, mqtt, data=DATA, config_dir=CONFIG_DIR, token=http_token(DATA))
    path = DATA / "bridge.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    path.chmod(0o600)  # the broker's password and the gateway token
    return path, timezone


def main() -> int:
    try:
        config, timezone = prepare()
    except OptionError as exc:
        print(f"wechat-mqtt-bridge: bad option: {exc}. Change it on the App's Configuration tab, then start "
              "the App again.", file=sys.stderr, flush=True)
        return 0
    except SupervisorError as exc:
        print(f"wechat-mqtt-bridge: {exc}", file=sys.stderr, flush=True)
        return 1
    os.environ["TZ"] = timezone
    os.execv(BRIDGE, [BRIDGE, "run", "--config", str(config)])


if __name__ == "__main__":
    sys.exit(main())

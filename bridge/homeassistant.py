"""Home Assistant MQTT discovery: the bridge shows up in HA as one device, without any HA config.

Entities (each a retained config on `<prefix>/<component>/<node id>/<object id>/config`):

| entity                        | reads / writes                 | what                                        |
|-------------------------------|--------------------------------|---------------------------------------------|
| notify, one per open room     | `<base>/send/<room key>`       | `notify.send_message` lands in that room    |
| binary_sensor "Connection"    | `<base>/bridge/state`          | the bridge is connected to the broker       |
| sensor "WeChat login"         | `<base>/bridge/login`          | connecting / scan / logged_in / logged_out  |
| sensor "Queue depth"          | `<base>/bridge/info`           | messages waiting for WeChat                 |
| sensor "Last delivery"        | `<base>/bridge/delivery`       | every `DeliveryStatus`, with details        |
|                               |                                | (`fallback`: what the fallback did, if used) |
| sensor "Last delivery time"   | `<base>/bridge/delivery`       | when that outcome was decided               |
| image "Login QR code"         | `<base>/bridge/login/qrcode`   | the QR code to scan, rendered as SVG        |
| sensor "Official bot <name>", | `<base>/bridge/ilink/<name>`   | logged_in / scan / logged_out; attributes:  |
| one per person of `ilink`     |                                | window_until, budget, waiting, reason        |

The QR code is rendered here as an SVG (no network, no extra dependency) rather than handed to
HA as a URL of wechaty.js.org: the login code would otherwise travel to a third-party site, and
HA would have to reach the internet to show it. Outside the scan state the picture says where
the login stands, so a dashboard card never shows a broken image.

Removing entities: HA deletes an entity when its config topic gets an empty retained payload.
The bridge subscribes to its own config topics (the node id comes from `mqtt.client_id`, so
no one else's match); every retained config it did not publish in this run is stale (a room
removed while the bridge was down, or discovery turned off) and is cleared. A `reload` clears
the configs of rooms it removes.

A room with `allow_direct: false` is not open and gets no notify entity: the bridge rejects what
arrives on its `send` topic, while HA's `notify.send_message` would report success, so the entity
could only mislead. Turning `allow_direct` off (reload or restart) removes the entity like removing the room.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args

import orjson
from markupsafe import escape  # loaded with Jinja2 anyway; xml.sax cost ~12 ms more

from bridge import __version__
from bridge.chat import LoginState
from bridge.config.models import Config
from bridge.events import DeliveryStatus, InboundMessage, Publication
from bridge.i18n import ENGLISH, Texts, texts_for
from bridge.topics import DiscoveryTopics, Topics

log = logging.getLogger(__name__)

Publish = Callable[[Publication], Awaitable[object]]

#: Pixels per QR module: a 33-module code becomes about 330 px, comfortable for a phone camera.
QR_MODULE_PIXELS = 10
#: The quiet zone the QR standard asks for, in modules.
QR_BORDER_MODULES = 4
LOGIN_STATES = ("connecting", "scan", "logged_in", "logged_out")
#: The states of `<base>/bridge/ilink/<name>` (`bridge.chat.IlinkState`).
ILINK_STATES = ("logged_in", "scan", "logged_out")
#: The Last delivery sensor's enum options: every status a report can carry, read off the one type
#: that defines them. HA ignores a state outside the options and keeps showing the previous one.
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)


@dataclass(frozen=True, slots=True)
class Entity:
    component: str
    object_id: str
    config: dict[str, Any]


def node_id(client_id: str) -> str:
    """The discovery node id: `mqtt.client_id` with what HA refuses in a topic level replaced."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", client_id)


def slug(text: str) -> str:
    """A lowercase `[a-z0-9_]` id for `text`, stable across restarts and distinct for distinct texts.

    HA entity ids allow only these characters; when `text` had to change (case, `-`, Chinese
    characters), a short hash of the original keeps `Family`/`family` or `家`/`群` apart.
    """
    simple = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if simple == text:
        return simple
    digest = hashlib.sha1(text.encode()).hexdigest()[:6]
    return f"{simple}_{digest}" if simple else digest


def entities(config: Config) -> list[Entity]:
    """Every entity the bridge announces for this config (pure).

    Names are in the config's locale; ids are not, so a locale switch renames and keeps history.
    """
    texts = texts_for(config.locale)
    topics = config.topics
    node = node_id(config.mqtt.client_id)
    prefix = slug(config.mqtt.base_topic)
    device = {
        "identifiers": [f"wechat_mqtt_bridge_{node}"],
        "name": texts.gettext("WeChat bridge") if config.mqtt.base_topic == "wechat"
        else texts.gettext("WeChat bridge {base_topic}").format(base_topic=config.mqtt.base_topic),
        "manufacturer": "wechat-mqtt-bridge",
        "model": texts.gettext("MQTT to WeChat bridge"),
        "sw_version": __version__,
    }
    availability = {
        "availability_topic": topics.state,
        "availability_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
    }

    def entity(component: str, object_id: str, entity_slug: str, body: dict[str, Any], *,
               available: bool = True) -> Entity:
        config_body = {
            **body,
            "unique_id": f"{node}_{object_id}",
            "default_entity_id": f"{component}.{prefix}_{entity_slug}",
            "device": device,
            "origin": {"name": "wechat-mqtt-bridge", "sw_version": __version__},
            "qos": 1,
            **(availability if available else {}),
        }
        return Entity(component, object_id, config_body)

    found = [
        entity("notify", f"room_{slug(key)}", slug(key), {
            "name": room.topic or key,
            "command_topic": topics.send(key),
            "retain": False,
            "icon": "mdi:wechat",
        })
        for key, room in sorted(config.rooms.items())
        if room.allow_direct  # HA would say "sent" for what the bridge rejects
    ]
    found += [
        # Without availability: it must read "disconnected" when the bridge is gone, not "unavailable".
        entity("binary_sensor", "connection", "connection", {
            "name": texts.pgettext("Home Assistant", "Connection"),
            "state_topic": topics.state,
            "value_template": "{{ value_json.state }}",
            "payload_on": "online",
            "payload_off": "offline",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
        }, available=False),
        entity("sensor", "login", "login", {
            "name": texts.pgettext("Home Assistant", "WeChat login"),
            "state_topic": topics.login,
            "value_template": "{{ value_json.state }}",
            "device_class": "enum",
            "options": list(LOGIN_STATES),
            "json_attributes_topic": topics.login,
            "json_attributes_template": "{{ {'user': value_json.get('user', {}).get('name'), "
                                        "'reason': value_json.get('reason'), 'url': value_json.get('url')} | tojson }}",
            "icon": "mdi:wechat",
        }),
        entity("sensor", "queue_depth", "queue_depth", {
            "name": texts.pgettext("Home Assistant", "Queue depth"),
            "state_topic": topics.info,
            "value_template": "{{ value_json.queue.depth }}",
            "state_class": "measurement",
            "unit_of_measurement": texts.pgettext("Home Assistant", "messages"),
            "icon": "mdi:tray-full",
            "entity_category": "diagnostic",
        }),
        entity("sensor", "last_delivery", "last_delivery", {
            "name": texts.pgettext("Home Assistant", "Last delivery"),
            "state_topic": topics.delivery,
            "value_template": "{{ value_json.status }}",
            "device_class": "enum",
            "options": list(DELIVERY_STATUSES),
            "json_attributes_topic": topics.delivery,
            "json_attributes_template": "{{ {'id': value_json.id, 'room': value_json.room.key, "
                                        "'route': value_json.route, 'topic': value_json.topic, "
                                        "'error': value_json.error, 'ts': value_json.ts, "
                                        "'fallback': value_json.get('fallback')} | tojson }}",
            "icon": "mdi:message-check",
        }),
        entity("sensor", "last_delivery_time", "last_delivery_time", {
            "name": texts.pgettext("Home Assistant", "Last delivery time"),
            "state_topic": topics.delivery,
            "value_template": "{{ value_json.ts }}",
            "device_class": "timestamp",
        }),
        entity("image", "login_qr_code", "login_qr_code", {
            "name": texts.pgettext("Home Assistant", "Login QR code"),
            "image_topic": topics.login_qrcode,
            "content_type": "image/svg+xml",
            "icon": "mdi:qrcode",
        }),
    ]
    # Each person of the official bot (a room with `ilink:`): whether it may write, and until when.
    found += [
        entity("sensor", f"ilink_{slug(name)}", f"ilink_{slug(name)}", {
            "name": texts.pgettext("Home Assistant", "Official bot {name}").format(name=name),
            "state_topic": topics.ilink(name),
            "value_template": "{{ value_json.state }}",
            "device_class": "enum",
            "options": list(ILINK_STATES),
            "json_attributes_topic": topics.ilink(name),
            "json_attributes_template": "{{ {'window_until': value_json.window_until, 'budget': value_json.budget, "
                                        "'waiting': value_json.waiting, 'reason': value_json.reason} | tojson }}",
            "icon": "mdi:robot-outline",
        })
        for name in config.ilink_people
    ]
    return found


def discovery_publications(config: Config) -> dict[str, Publication]:
    """Discovery topic -> its retained config publication (pure)."""
    discovery = DiscoveryTopics(config.homeassistant.prefix, node_id(config.mqtt.client_id))
    return {
        topic: Publication(topic, orjson.dumps(e.config), qos=1, retain=True)
        for e in entities(config)
        for topic in [discovery.config(e.component, e.object_id)]
    }


def subscriptions(config: Config) -> list[str]:
    """Our own config topics (always, so turning discovery off clears them), and HA's status."""
    discovery = DiscoveryTopics(config.homeassistant.prefix, node_id(config.mqtt.client_id))
    if not config.homeassistant.discovery:
        return [discovery.config_filter]
    return [discovery.config_filter, discovery.status]


# --- the login picture ------------------------------------------------------------------------


#: The caption's height under the code, in modules: one line of text in the code's own units.
QR_CAPTION_MODULES = 5


def qr_svg(data: str, caption: str = "") -> bytes:
    """`data` as a QR code in SVG: black on an opaque white square, so dark dashboards scan too,
    with `caption` under it (what to do with it, in the config's locale)."""
    import qrcode  # only while a scan is needed: a logged-in bridge never pays for it

    code = qrcode.QRCode(border=QR_BORDER_MODULES, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    path = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    pixels = size * QR_MODULE_PIXELS
    height = size + (QR_CAPTION_MODULES if caption else 0)
    text = (f'<text x="{size / 2:g}" y="{size + 2}" text-anchor="middle" font-family="sans-serif" '
            f'font-size="2.5" fill="#333">{escape(caption)}</text>') if caption else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {height}" width="{pixels}" '
        f'height="{height * QR_MODULE_PIXELS}" shape-rendering="crispEdges"><rect width="{size}" height="{height}" '
        f'fill="#fff"/><path d="{path}" fill="#000"/>{text}</svg>'
    ).encode()


def text_svg(text: str) -> bytes:
    """A placeholder picture saying where the login stands, shown when there is no QR to scan."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 330 330" width="330" height="330">'
        '<rect width="330" height="330" fill="#fff"/>'
        '<text x="165" y="165" text-anchor="middle" font-family="sans-serif" font-size="16" fill="#333">'
        f"{escape(text)}</text></svg>"
    ).encode()


def login_image(state: LoginState, texts: Texts = ENGLISH) -> bytes:
    if state.state == "scan" and state.qrcode:
        return qr_svg(state.qrcode, texts.gettext("Scan with WeChat to log in"))
    if state.state == "logged_in":
        if state.user:
            return text_svg(texts.gettext("Logged in as {name}").format(name=state.user.name))
        return text_svg(texts.gettext("Logged in"))
    if state.state == "scan":
        return text_svg(texts.gettext("Waiting for the QR code"))
    if state.state == "logged_out":
        return text_svg(texts.gettext("Logged out"))
    return text_svg(texts.gettext("Connecting to WeChat"))


# --- the runtime part -------------------------------------------------------------------------


class HomeAssistant:
    """Publishes discovery and the login picture; hooks called by the composition root."""

    def __init__(self, config: Config, publish: Publish) -> None:
        self._publish = publish
        self._topics: Topics = config.topics
        self._discovery = DiscoveryTopics(config.homeassistant.prefix, node_id(config.mqtt.client_id))
        self._enabled = config.homeassistant.discovery
        self._configs = discovery_publications(config) if self._enabled else {}
        self._texts = texts_for(config.locale)
        self._image = login_image(LoginState("connecting"), self._texts)

    async def on_connect(self) -> None:
        """After each broker connect: every config, and the login picture, again."""
        await self.publish_discovery()
        await self._publish(Publication(self._topics.login_qrcode, self._image, qos=1, retain=True))

    async def publish_discovery(self) -> None:
        for publication in self._configs.values():
            await self._publish(publication)

    async def on_login(self, state: LoginState) -> None:
        image = login_image(state, self._texts)
        if image == self._image:
            return
        self._image = image
        await self._publish(Publication(self._topics.login_qrcode, image, qos=1, retain=True))

    async def on_message(self, message: InboundMessage) -> bool:
        """Handle HA's birth message and our own retained configs; True when the message was ours."""
        if message.topic == self._discovery.status:
            if self._enabled and message.payload.strip() == b"online":
                log.info("Home Assistant started: publishing discovery again")
                await self.publish_discovery()
            return False  # routes may listen to HA's status too
        if not self._discovery.is_config(message.topic):
            return False
        if message.retain and message.payload and message.topic not in self._configs:
            log.info("Home Assistant: removing the stale entity config on %s", message.topic)
            await self._publish(Publication(message.topic, b"", qos=1, retain=True))
        return True

    async def reload(self, config: Config) -> None:
        """New rooms get an entity, removed rooms lose theirs."""
        if not self._enabled:
            return
        configs = discovery_publications(config)
        for topic in sorted(self._configs.keys() - configs.keys()):
            log.info("Home Assistant: removing the entity config on %s", topic)
            await self._publish(Publication(topic, b"", qos=1, retain=True))
        changed = [p for topic, p in configs.items() if self._configs.get(topic) != p]
        self._configs = configs
        for publication in changed:
            await self._publish(publication)

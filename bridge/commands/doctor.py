"""`doctor`: the chain from the config file to each WeChat room, checked link by link.

A newcomer's bridge that "does nothing" has one broken link: a typo in the config, the broker
refusing the password, the gateway on another port, a token that differs, an account waiting
for a scan, a room name with a different dash. Each check here names its link, says what it
found, and on failure the one thing to change.

It must not disturb a running bridge. The broker takes any number of clients (doctor uses its
own client id). The puppet-service gateway takes one event stream at a time, and that stream is
the only way to learn the login state: when a bridge holds it, doctor does not take it over
(that would end the bridge's stream) and reports what the running bridge publishes on
`<base>/bridge/login` instead. Its unary calls (version, room list) are safe beside a bridge.

The gateway is checked when a room is a group chat; the official bot (`bridge.commands.doctor_ilink`)
when a room names a person (`ilink:`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import qrcode

from bridge.chat import LoginState, WeChatRoom, WeChatUser, qr_url
from bridge.config.models import Config
from bridge.errors import BrokerUnavailable, EventStreamTaken, GatewayUnavailable, SendError, TokenRefused
from bridge.mqtt.oneshot import read_retained
from bridge.wechat.capabilities import capability_warnings
from bridge.wechat.rooms import resolve_rooms

if TYPE_CHECKING:
    from bridge.wechat.puppet import PuppetLink

#: How long each network check may take: a gateway or broker that answers at all answers in
#: well under a second; a firewall that drops packets would otherwise hang doctor.
CHECK_SECONDS = 5.0
#: How long to wait on the event stream for the login state after its first heartbeat: the
#: gateway sends `login` (or the pending `scan`) right away when it has one.
LOGIN_WAIT_SECONDS = 3.0


@dataclass(kw_only=True, frozen=True, slots=True)
class Finding:
    """One link of the chain: whether it holds, what was found, and what to change if not."""

    link: str
    ok: bool
    detail: str
    fix: str | None = None
    #: Printed after the line: the login QR code while a scan is needed.
    extra: str | None = None
    #: False for a link that could not be checked because one before it broke (`○`, not ✗).
    checked: bool = True
    #: A link that holds with something to know (`!`): a route sends what its room's transport cannot carry.
    warning: bool = False

    def line(self) -> str:
        mark = ("!" if self.warning else "✓" if self.ok else "✗") if self.checked else "○"
        fix = f" Fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{mark} {self.link}: {self.detail}{fix}"


@dataclass(frozen=True, slots=True)
class BridgeSeen:
    """What a running bridge last published (retained), if any."""

    online: bool
    login: dict[str, Any] | None


async def diagnose(config: Config, source: str) -> list[Finding]:
    """Every finding, in the order of the chain. A broken link skips only the links that cannot be
    checked without it: the token, login and rooms need the gateway, and the rooms a login."""
    findings = [Finding(link="config", ok=True, detail=f"{source} is valid ({config.size})")]
    findings.extend(Finding(link="capabilities", ok=True, warning=True, detail=warning)
                    for warning in capability_warnings(config))
    broker, seen = await _check_broker(config)
    findings.append(broker)
    if config.uses_gateway:
        findings.extend(await _check_gateway(config, seen))
    if config.ilink_people:
        from bridge.commands.doctor_ilink import check_ilink  # only for the official bot

        findings.extend(await check_ilink(config, source))
    return findings


def skipped(links: tuple[str, ...], needs: str) -> list[Finding]:
    """A line for each link after a broken one, so the chain is always shown whole."""
    return [Finding(link=link, ok=False, detail=f"not checked: it needs {needs}", checked=False) for link in links]


async def _check_broker(config: Config) -> tuple[Finding, BridgeSeen | None]:
    settings = config.mqtt
    where = f"{settings.host}:{settings.port}"
    who = f" as {settings.username!r}" if settings.username else " (anonymous)"
    topics = config.topics
    try:
        retained = await read_retained(
            settings, client_id=f"{settings.client_id}-doctor-{uuid.uuid4().hex[:8]}",
            topics=[topics.state, topics.login], wait_seconds=CHECK_SECONDS)
    except BrokerUnavailable as exc:
        return Finding(link="broker", ok=False, detail=f"cannot connect to {where}{who}: {exc}",
                       fix=_broker_fix(str(exc))), None
    state = _json_object(retained.get(topics.state)) or {}
    seen = BridgeSeen(online=state.get("state") == "online", login=_json_object(retained.get(topics.login)))
    bridge = "a bridge is online on it" if seen.online else "no bridge is online on it"
    return Finding(link="broker", ok=True, detail=f"connected to {where}{who}; {bridge} ({topics.state})"), seen


def _broker_fix(reason: str) -> str:
    lowered = reason.lower()
    if "refused the login" in lowered:
        return "set mqtt.username and mqtt.password (or password_file) to a user the broker knows."
    if "certificate" in lowered:
        return "set mqtt.tls.ca_file to the CA that signed the broker's certificate."
    return "start the broker, or point mqtt.host and mqtt.port at the one that is running."


async def _check_gateway(config: Config, seen: BridgeSeen | None) -> list[Finding]:
    from bridge.wechat.client import link_tls
    from bridge.wechat.puppet import PuppetLink

    settings = config.wechaty
    where = settings.endpoint
    token = settings.token.get_secret_value() if settings.token else ""
    link = PuppetLink(where, token, tls=link_tls(settings.tls), timeout=CHECK_SECONDS)
    try:
        try:
            version = await link.version()
        except TokenRefused as exc:
            return [Finding(link="gateway", ok=True, detail=f"{where} answers"),
                    Finding(link="token", ok=False, detail=f"the gateway refused the token ({exc})",
                            fix="WECHATY_PUPPET_SERVICE_TOKEN (or wechaty.token) must equal the gateway's "
                                "WECHATY_TOKEN."),
                    *skipped(("login", "rooms"), "a gateway that accepts the token")]
        except GatewayUnavailable as exc:
            return [Finding(link="gateway", ok=False, detail=f"cannot reach {where}: {exc}",
                            fix=_gateway_fix(config)),
                    *skipped(("token", "login", "rooms"), "a gateway that answers")]
        findings = [Finding(link="gateway", ok=True, detail=f"{where} answers (puppet version {version})"),
                    Finding(link="token", ok=True, detail="the gateway accepts it")]
        try:
            login = _login_finding(await _peek_login(link))
        except EventStreamTaken:
            login = _login_from_bridge(seen)
        except GatewayUnavailable as exc:
            login = Finding(link="login", ok=False, detail=f"cannot read the login state: {exc}",
                            fix="look at the gateway's log for why it ends the event stream.")
        findings.append(login)
        if not login.ok:
            return [*findings, *skipped(("rooms",), "a logged-in account")]
        try:
            rooms = await _rooms(link)
        except GatewayUnavailable as exc:
            findings.append(Finding(link="rooms", ok=False, detail=f"cannot list the account's rooms: {exc}",
                                    fix="look at the gateway's log for why it cannot read the room list."))
            return findings
    finally:
        await link.close()
    findings.extend(_room_findings(config, rooms))
    return findings


def _gateway_fix(config: Config) -> str:
    tls = "on" if config.wechaty.tls is not None else "off"
    return (f"start the gateway, or point wechaty.endpoint at it (its WECHATY_PUPPET_SERVER_HOST and _PORT); "
            f"wechaty.tls is {tls}, and must match whether the gateway serves TLS.")


async def _peek_login(link: PuppetLink) -> LoginState | None:
    """The login state the gateway replays to a new event stream, without calling `Start`.

    After its first heartbeat the server sends `login` (or the pending `scan`) at once when it has
    one; silence for `LOGIN_WAIT_SECONDS` means it has neither. Raises `EventStreamTaken` when
    another client holds the stream.
    """
    events = link.events()
    try:
        async with asyncio.timeout(CHECK_SECONDS + LOGIN_WAIT_SECONDS):
            async for event in events:
                if event.type == "heartbeat":
                    break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LOGIN_WAIT_SECONDS):
                async for event in events:
                    if event.type == "login":
                        user_id = str(event.payload.get("contactId") or "")
                        name = user_id
                        with contextlib.suppress(GatewayUnavailable, SendError):
                            name = (await link.contact_payload(user_id)).name or user_id
                        return LoginState("logged_in", user=WeChatUser(user_id, name))
                    if event.type == "scan" and event.payload.get("qrcode"):
                        return LoginState("scan", qrcode=str(event.payload["qrcode"]))
    except TimeoutError:
        raise GatewayUnavailable("the event stream sent no heartbeat") from None
    finally:
        await events.aclose()
    return None


async def _rooms(link: PuppetLink) -> list[WeChatRoom]:
    rooms = []
    for room_id in await link.room_list():
        payload = await link.room_payload(room_id)
        rooms.append(WeChatRoom(payload.id, payload.topic, len(payload.member_ids)))
    return rooms


def _login_finding(state: LoginState | None) -> Finding:
    if state is None:
        return Finding(link="login", ok=False,
                       detail="the gateway's puppet is neither logged in nor showing a QR code",
                       fix="look at the gateway's log: the puppet is still starting or cannot reach WeChat.")
    if state.state == "logged_in" and state.user is not None:
        return Finding(link="login", ok=True, detail=f"logged in as {state.user.name} ({state.user.id})")
    if state.state == "scan" and state.qrcode:
        return Finding(link="login", ok=False, detail="a QR scan is needed",
                       fix="scan this code with the WeChat app of the account "
                       f"(or open {qr_url(state.qrcode)}).", extra=_qr_text(state.qrcode))
    return Finding(link="login", ok=False, detail=f"not logged in ({state.reason or state.state})",
                   fix="look at the gateway's log for why; restart it to get a new QR code.")


def _login_from_bridge(seen: BridgeSeen | None) -> Finding:
    busy = "the gateway serves one client at a time and another one (the running bridge?) holds it"
    login = seen.login if seen is not None else None
    if login is None:
        return Finding(link="login", ok=False, detail=f"not checked: {busy}, and no bridge reports a login on MQTT",
                       fix="stop the other client (doctor will not take its place), then run doctor again.")
    if login.get("state") == "logged_in":
        user = login.get("user") or {}
        return Finding(link="login", ok=True,
                       detail=f"logged in as {user.get('name')} ({user.get('id')}), as the running bridge "
                       f"reports ({busy}; doctor did not take its place)")
    reason = f" ({login['reason']})" if login.get("reason") else ""
    return Finding(link="login", ok=False,
                   detail=f"the running bridge reports {login.get('state')}{reason} ({busy})",
                   fix="scan the QR code the bridge shows (its log, bridge/login/qrcode or Home Assistant).")


def _room_findings(config: Config, rooms: list[WeChatRoom]) -> list[Finding]:
    findings = []
    for key, resolution in resolve_rooms(config.rooms, rooms).items():
        room = resolution.room
        if room is not None:
            findings.append(Finding(link=f"room {key}", ok=True,
                                    detail=f"{room.topic!r} ({room.id}, {room.member_count} members)"))
            continue
        wanted = config.rooms[key]
        fix = ("the account must be a member of that room; ids change at every login with some puppets, "
               "so prefer `topic:`." if wanted.id is not None else
               "the name must match the group's name exactly (case, spaces, emoji); or configure it by `id:`.")
        problem = (resolution.problem or "not found").removeprefix(f"room {key!r}: ")
        findings.append(Finding(link=f"room {key}", ok=False, detail=problem, fix=fix))
    return findings


def _json_object(payload: bytes | None) -> dict[str, Any] | None:
    if not payload:
        return None
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _qr_text(data: str) -> str:
    code = qrcode.QRCode(border=1)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out)
    return out.getvalue()

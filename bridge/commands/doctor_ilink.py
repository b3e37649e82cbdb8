"""`doctor` for the official WeChat bot (iLink): reachable, each person bound and their token
accepted, and whether their window is open, link by link as `bridge.commands.doctor` does.

    ilink           the configured `ilink.base_url` answers (any HTTP answer; a call without a token)
    ilink <name>    the person is bound here, and `getconfig` with their token is accepted
    window <name>   read from their stored cursor (when they last wrote, sends spent since): our estimate

It must not disturb a running bridge: `getconfig` is the cheapest call that needs a token and
changes nothing; doctor never long-polls (`getupdates` would take the bridge's messages) and
never sends. Tokens are never printed.
"""

from __future__ import annotations

import time

from bridge.commands.doctor import CHECK_SECONDS, Finding, skipped
from bridge.config.models import Config
from bridge.errors import SendError
from bridge.wechat.ilink.api import IlinkClient, Session, new_session
from bridge.wechat.ilink.credentials import Credentials, CredentialStore, Cursor
from bridge.wechat.ilink.errors import IlinkInDoubt, IlinkTokenRefused, IlinkUnreachable, SessionExpired
from bridge.wechat.ilink.window import Gate, Window, WindowPolicy


async def check_ilink(config: Config, source: str, now: float | None = None) -> list[Finding]:
    """The official bot's links, for a config whose rooms name people (`ilink:`)."""
    now = time.time() if now is None else now
    store = CredentialStore(config.ilink_credentials)
    async with new_session() as session:
        reachable = await _reachable(session, config.ilink.base_url)
        findings = [reachable]
        for name in config.ilink_people:
            credentials = store.load(name)
            if credentials is None:
                findings.append(Finding(
                    link=f"ilink {name}", ok=False,
                    detail=f"nobody is bound as {name!r} (rooms: {', '.join(_rooms(config, name))})",
                    fix=f"run `wechat-mqtt-bridge ilink login --config {source} --name {name}` and scan the QR "
                        "code with their WeChat (or start the login on the status page)."))
                findings.extend(skipped((f"window {name}",), "a bound person"))
            elif not reachable.ok:
                findings.extend(skipped((f"ilink {name}", f"window {name}"), "iLink reachable"))
            else:
                cursor = store.load_cursor(name)
                token = await _token(session, credentials, cursor, source)
                findings.append(token)
                findings.append(_window(config, name, cursor, now) if token.ok
                                else skipped((f"window {name}",), "a token iLink accepts")[0])
    return findings


async def _reachable(session: Session, base_url: str) -> Finding:
    try:
        await IlinkClient(session=session, base_url=base_url, config_timeout=CHECK_SECONDS,
                          connect_timeout=CHECK_SECONDS).get_config(user_id="doctor")
    except (IlinkUnreachable, IlinkInDoubt) as exc:
        return Finding(link="ilink", ok=False, detail=f"cannot reach {base_url}: {exc}",
                       fix="check the network (and a proxy) to that host, or ilink.base_url.")
    except SendError:
        pass  # refused without a token: it answers, which is all this asks
    return Finding(link="ilink", ok=True, detail=f"{base_url} answers")


async def _token(session: Session, credentials: Credentials, cursor: Cursor, source: str) -> Finding:
    name = credentials.name
    client = IlinkClient(session=session, base_url=credentials.base_url, token=credentials.token,
                         config_timeout=CHECK_SECONDS, connect_timeout=CHECK_SECONDS)
    again = (f"log {name} in again: `wechat-mqtt-bridge ilink login --config {source} --name {name}` "
             "(or the status page; a running bridge starts one itself after the pause).")
    try:
        await client.get_config(user_id=credentials.user_id, context_token=cursor.context_token)
    except SessionExpired:
        return Finding(link=f"ilink {name}", ok=False,
                       detail="iLink says the session expired (errcode -14)", fix=again)
    except IlinkTokenRefused as exc:
        return Finding(link=f"ilink {name}", ok=False, detail=f"iLink refuses the token ({exc})", fix=again)
    except SendError as exc:
        return Finding(link=f"ilink {name}", ok=False, detail=f"getconfig failed: {exc}",
                       fix=f"look at whether {credentials.base_url} works for other calls; else log {name} in again.")
    bound = time.strftime("%Y-%m-%d %H:%M", time.localtime(credentials.bound_at))
    return Finding(link=f"ilink {name}", ok=True, detail=f"bound {bound}; iLink accepts the token")


def _window(config: Config, name: str, cursor: Cursor, now: float) -> Finding:
    """The window and the budget as the bridge estimates them from the cursor it stores."""
    settings = config.ilink
    window = Window(policy=WindowPolicy(window_seconds=settings.window, per_message=settings.per_message,
                                        stale_pause_seconds=settings.stale_pause),
                    context_token=cursor.context_token, last_inbound_at=cursor.last_inbound_at, spent=cursor.spent)
    left = window.remaining(now)
    renew = f"{name} writes anything to the bot in WeChat: that opens the window with {settings.per_message} messages."
    if left.gate is Gate.NEVER:
        return Finding(link=f"window {name}", ok=False,
                       detail=f"{name} has not written to the bot yet: it may write only after a message from them",
                       fix=renew)
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(left.window_until)) if left.window_until else "?"
    if left.gate is Gate.WINDOW_CLOSED:
        return Finding(link=f"window {name}", ok=False, detail=f"closed since {until} (by our estimate)", fix=renew)
    if left.gate is Gate.BUDGET_SPENT:
        return Finding(link=f"window {name}", ok=False,
                       detail=f"open until {until}, but the {settings.per_message} messages are used up", fix=renew)
    return Finding(link=f"window {name}", ok=True,
                   detail=f"open until {until}; {left.budget} of {settings.per_message} messages left")


def _rooms(config: Config, name: str) -> list[str]:
    return [key for key, room in config.rooms.items() if room.ilink == name]

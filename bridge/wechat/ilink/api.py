"""`IlinkClient`: one bot's calls to iLink, with the headers and bodies of Tencent's client 2.4.9.

Every request goes through `_call`, the one place where the HTTP errors of `web.py` and iLink's answers
become ours (`errors.py`). The except ladder, written out:

    what happened                                            raised
    connection refused, DNS failed, connect timed out         IlinkUnreachable   (the request never left)
    request left; timeout, connection cut, body unreadable    IlinkInDoubt       (status None)
    HTTP 5xx, or HTTP 200 with a body that is not JSON        IlinkInDoubt       (status set)
    HTTP 401 / 403                                            IlinkTokenRefused
    other HTTP 4xx                                            IlinkRefused       (status set)
    JSON with ret/errcode != 0                                raise_for_answer: SessionExpired,
                                                              WindowClosed, RateLimited, IlinkRefused

Two calls read a failure as an answer, as Tencent's client does: getupdates reads our own timeout
as an empty batch with the same cursor (a cut connection stays an error), and get_qrcode_status
reads any failure as `wait`. Nothing here logs a token: requests are logged by
endpoint only.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from bridge import __version__
from bridge.errors import SendError
from bridge.wechat.ilink.errors import (
    Answer,
    IlinkInDoubt,
    IlinkRefused,
    IlinkTokenRefused,
    IlinkUnreachable,
    raise_for_answer,
)
from bridge.wechat.ilink.models import (
    MESSAGE_STATE_FINISH,
    MESSAGE_TYPE_BOT,
    MESSAGE_TYPE_USER,
    Accepted,
    InboundMessage,
    ItemType,
    MediaType,
    QrCode,
    QrState,
    QrStatus,
    Updates,
    UploadTicket,
)
from bridge.wechat.ilink.web import ConnectFailed, HttpSession, NoAnswer

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://ilinkai.weixin.qq.com"
#: `CDN_BASE_URL` of src/auth/accounts.ts; configurable because a test (or a proxy) needs another.
DEFAULT_CDN_BASE_URL = "https://novac2c.cdn.weixin.qq.com/c2c"
#: `ilink_appid` of the package.json of @tencent-weixin/openclaw-weixin, sent as iLink-App-Id.
APP_ID = "bot"
#: The client version whose protocol this module speaks. iLink-App-ClientVersion and
#: base_info.channel_version say it as Tencent's client does, so the server treats us as that
#: client (the QR login by POST with local_token_list came with the 2.4 line); `bot_agent` names us.
PROTOCOL_VERSION = "2.4.9"
#: base_info.bot_agent: who is calling, for iLink's statistics ("Name/Version", as a User-Agent).
BOT_AGENT = f"wechat-mqtt-bridge/{__version__}"
#: `DEFAULT_ILINK_BOT_TYPE` of src/auth/login-qr.ts.
BOT_TYPE = "3"

#: Tencent's defaults (src/api/api.ts): 35 s long poll, 15 s for sends and upload URLs, 10 s for
#: getconfig; the QR status long poll is 35 s too (src/auth/login-qr.ts).
LONG_POLL_SECONDS = 35.0
API_TIMEOUT_SECONDS = 15.0
CONFIG_TIMEOUT_SECONDS = 10.0
QR_POLL_SECONDS = 35.0
#: A connect taking longer than this is "unreachable": nothing was sent yet, so nothing is in doubt.
CONNECT_TIMEOUT_SECONDS = 10.0


#: The HTTP session every client of one process shares (its connections); `new_session()` opens one.
Session = HttpSession


def new_session() -> HttpSession:
    """A session for iLink's clients, to use as `async with new_session() as session`."""
    return HttpSession()


def client_version_number(version: str) -> int:
    """iLink-App-ClientVersion: "M.N.P" as the uint32 0x00MMNNPP (`buildClientVersion` in api.ts)."""
    parts = [*(int(p) if p.isdigit() else 0 for p in version.split(".")[:3]), 0, 0, 0]
    return ((parts[0] & 0xFF) << 16) | ((parts[1] & 0xFF) << 8) | (parts[2] & 0xFF)


def random_wechat_uin() -> str:
    """X-WECHAT-UIN: a random uint32, in decimal, base64-encoded; new for every request (api.ts)."""
    return base64.b64encode(str(secrets.randbits(32)).encode()).decode()


def new_client_id(prefix: str = "wechat-mqtt-bridge") -> str:
    """`generateId` of src/util/random.ts: `{prefix}:{ms}-{8 hex}`."""
    return f"{prefix}:{int(time.time() * 1000)}-{secrets.token_hex(4)}"


class IlinkClient:
    """The calls of one bot (or of a login, before there is a token) to one iLink host."""

    def __init__(
        self,
        *,
        session: HttpSession,
        base_url: str = DEFAULT_BASE_URL,
        token: str | None = None,
        bot_agent: str = BOT_AGENT,
        api_timeout: float = API_TIMEOUT_SECONDS,
        config_timeout: float = CONFIG_TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        route_tag: str | None = None,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._token = token.strip() if token else None
        self._bot_agent = bot_agent
        self._api_timeout = api_timeout
        self._config_timeout = config_timeout
        self._connect_timeout = connect_timeout
        self._route_tag = route_tag

    def __repr__(self) -> str:  # never the token
        return f"IlinkClient(base_url={self.base_url!r}, token={'set' if self._token else None})"

    # -- login ------------------------------------------------------------------------------

    async def get_bot_qrcode(self, *, local_tokens: Sequence[str] = (), bot_type: str = BOT_TYPE) -> QrCode:
        """A new login QR code. `local_tokens`: the tokens of bots already bound here (newest first,
        at most 10), so the server can answer `binded_redirect` when the same person scans again."""
        body = await self._call(
            "POST", "ilink/bot/get_bot_qrcode", params={"bot_type": bot_type},
            payload={"local_token_list": list(local_tokens)[:10]}, seconds=self._api_timeout, base_info=False,
        )
        qrcode, url = body.get("qrcode"), body.get("qrcode_img_content")
        if not isinstance(qrcode, str) or not isinstance(url, str) or not qrcode:
            raise IlinkRefused("iLink get_bot_qrcode answered without a QR code", endpoint="get_bot_qrcode",
                               answer=_answer(body))
        return QrCode(qrcode=qrcode, url=url)

    async def get_qrcode_status(self, qrcode: str, *, verify_code: str | None = None, base_url: str | None = None,
                                poll_seconds: float = QR_POLL_SECONDS) -> QrStatus:
        """One long poll of the login's status, on `base_url` when a redirect named another host.

        Any failure of the poll (a timeout, a gateway's 524, an unreachable host) reads as `wait`, as
        in Tencent's `pollQRStatus`: the login's deadline ends a host that never answers.
        """
        params = {"qrcode": qrcode}
        if verify_code:
            params["verify_code"] = verify_code
        try:
            body = await self._call("GET", "ilink/bot/get_qrcode_status", params=params, seconds=poll_seconds,
                                    base_url=base_url)
        except SendError:
            return QrStatus(state=QrState.WAIT, raw_status="wait")
        return QrStatus.from_json(body)

    # -- receiving --------------------------------------------------------------------------

    async def get_updates(self, cursor: str, *, poll_seconds: float = LONG_POLL_SECONDS) -> Updates:
        """One long poll. `cursor` is the last answer's get_updates_buf ("" the first time).

        `poll_seconds` should be the last answer's longpolling_timeout_ms; a client-side timeout is an
        empty batch with the same cursor. Only the person's own messages (message_type 1) come back.
        """
        try:
            body = await self._call("POST", "ilink/bot/getupdates", payload={"get_updates_buf": cursor},
                                    seconds=poll_seconds)
        except IlinkInDoubt as exc:
            if exc.timed_out:  # our own timeout: nothing new (a cut connection is a failure, as in monitor.ts)
                return Updates(messages=(), cursor=cursor)
            raise
        msgs = [m for m in body.get("msgs") or () if isinstance(m, Mapping)]
        next_cursor = body.get("get_updates_buf")
        poll_ms = body.get("longpolling_timeout_ms")
        return Updates(
            messages=tuple(InboundMessage.from_json(m) for m in msgs
                           if m.get("message_type", MESSAGE_TYPE_USER) == MESSAGE_TYPE_USER),
            # An empty or absent buf keeps the old one (monitor.ts saves only a non-empty buf).
            cursor=next_cursor if isinstance(next_cursor, str) and next_cursor else cursor,
            longpolling_timeout_ms=poll_ms if isinstance(poll_ms, int) and poll_ms > 0 else None,
        )

    # -- sending ----------------------------------------------------------------------------

    async def send_item(self, *, to_user_id: str, item: Mapping[str, Any], context_token: str | None,
                        client_id: str | None = None) -> Accepted:
        """sendmessage with one item (Tencent's client never puts two in one request)."""
        cid = client_id or new_client_id()
        msg: dict[str, Any] = {
            "from_user_id": "",
            "to_user_id": to_user_id,
            "client_id": cid,
            "message_type": MESSAGE_TYPE_BOT,
            "message_state": MESSAGE_STATE_FINISH,
            "item_list": [dict(item)],
        }
        if context_token:
            msg["context_token"] = context_token
        body = await self._call("POST", "ilink/bot/sendmessage", payload={"msg": msg}, seconds=self._api_timeout)
        message_id = body.get("message_id")
        return Accepted(client_id=cid, message_id=None if message_id in (None, "") else str(message_id))

    async def send_text(self, *, to_user_id: str, text: str, context_token: str | None,
                        client_id: str | None = None) -> Accepted:
        """One text message; split it first (`text.split_text`), iLink's clients send at most 4000."""
        return await self.send_item(
            to_user_id=to_user_id, item={"type": int(ItemType.TEXT), "text_item": {"text": text}},
            context_token=context_token, client_id=client_id,
        )

    # -- media ------------------------------------------------------------------------------

    async def get_upload_url(self, *, filekey: str, media_type: MediaType, to_user_id: str, rawsize: int,
                             rawfilemd5: str, filesize: int, aeskey_hex: str) -> UploadTicket:
        """Where to upload one encrypted file (no thumbnail: `no_need_thumb`, as Tencent's client)."""
        body = await self._call("POST", "ilink/bot/getuploadurl", seconds=self._api_timeout, payload={
            "filekey": filekey, "media_type": int(media_type), "to_user_id": to_user_id, "rawsize": rawsize,
            "rawfilemd5": rawfilemd5, "filesize": filesize, "no_need_thumb": True, "aeskey": aeskey_hex,
        })
        full = body.get("upload_full_url")
        param = body.get("upload_param")
        return UploadTicket(upload_param=param if isinstance(param, str) and param else None,
                            upload_full_url=full.strip() if isinstance(full, str) and full.strip() else None)

    async def upload_to_cdn(self, url: str, ciphertext: bytes) -> str:
        """POST the encrypted bytes to the CDN; the answer's x-encrypted-param names the file later.

        The CDN gets no iLink headers (cdn-upload.ts sends Content-Type only).
        """
        endpoint = "cdn upload"
        try:
            resp = await self._session.request("POST", url, body=ciphertext, seconds=self._api_timeout,
                                               connect_seconds=self._connect_timeout,
                                               headers={"Content-Type": "application/octet-stream"})
        except ConnectFailed as exc:
            raise IlinkUnreachable(f"the CDN cannot be reached: {exc.reason}", endpoint=endpoint) from None
        except NoAnswer as exc:
            raise IlinkInDoubt(f"the CDN upload got no answer ({exc.reason})", endpoint=endpoint,
                               timed_out=exc.timed_out) from None
        if 400 <= resp.status < 500:
            reason = resp.headers.get("x-error-message") or f"HTTP {resp.status}"
            raise IlinkRefused(f"the CDN refused the upload: {reason}", endpoint=endpoint,
                               answer=Answer(ret=None, errcode=None, errmsg=reason), status=resp.status)
        if resp.status != 200:
            raise IlinkInDoubt(f"the CDN answered HTTP {resp.status}", endpoint=endpoint, status=resp.status)
        param = resp.headers.get("x-encrypted-param")
        if not param:
            raise IlinkInDoubt("the CDN answered without x-encrypted-param", endpoint=endpoint, status=200)
        return param

    # -- checks -----------------------------------------------------------------------------

    async def get_config(self, *, user_id: str, context_token: str | None = None) -> str:
        """getconfig: the cheapest call that needs a valid token; returns the typing ticket."""
        payload: dict[str, Any] = {"ilink_user_id": user_id}
        if context_token:
            payload["context_token"] = context_token
        body = await self._call("POST", "ilink/bot/getconfig", payload=payload, seconds=self._config_timeout)
        return str(body.get("typing_ticket") or "")

    # -- the one edge -----------------------------------------------------------------------

    def _headers(self, method: str) -> dict[str, str]:
        headers = {"iLink-App-Id": APP_ID, "iLink-App-ClientVersion": str(client_version_number(PROTOCOL_VERSION))}
        if self._route_tag:
            headers["SKRouteTag"] = self._route_tag
        if method == "POST":  # buildHeaders in api.ts; GETs carry the common two only
            headers |= {"Content-Type": "application/json", "AuthorizationType": "ilink_bot_token",
                        "X-WECHAT-UIN": random_wechat_uin()}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def _call(self, method: str, path: str, *, seconds: float, payload: Mapping[str, Any] | None = None,
                    params: Mapping[str, str] | None = None, base_url: str | None = None,
                    base_info: bool = True) -> dict[str, Any]:
        endpoint = path.rsplit("/", 1)[-1]
        url = f"{(base_url or self.base_url).rstrip('/')}/{path}"
        data = None
        if method == "POST":
            body = dict(payload or {})
            if base_info:
                body["base_info"] = {"channel_version": PROTOCOL_VERSION, "bot_agent": self._bot_agent}
            data = orjson.dumps(body)
        log.debug("iLink %s %s", method, endpoint)
        try:
            resp = await self._session.request(method, url, params=params, body=data, headers=self._headers(method),
                                               seconds=seconds, connect_seconds=self._connect_timeout)
        except ConnectFailed as exc:  # DNS, refused, TLS handshake, connect timeout: the request never left
            if exc.timed_out:
                raise IlinkUnreachable(f"iLink did not accept a connection in time ({endpoint})",
                                       endpoint=endpoint) from None
            raise IlinkUnreachable(f"iLink cannot be reached ({endpoint}): {exc.reason}", endpoint=endpoint) from None
        except NoAnswer as exc:  # the request left
            if exc.timed_out:
                raise IlinkInDoubt(f"iLink did not answer {endpoint} within {seconds:g} s", endpoint=endpoint,
                                   timed_out=True) from None
            raise IlinkInDoubt(f"the connection to iLink broke during {endpoint} ({exc.reason})",
                               endpoint=endpoint) from None
        return _read_answer(endpoint, resp.status, resp.body)


def _read_answer(endpoint: str, status: int, raw: bytes) -> dict[str, Any]:
    if status in (401, 403):
        raise IlinkTokenRefused(f"iLink refused the bot token ({endpoint}: HTTP {status})", endpoint=endpoint,
                                status=status)
    if 400 <= status < 500:
        raise IlinkRefused(f"iLink refused {endpoint}: HTTP {status}", endpoint=endpoint,
                           answer=Answer(ret=None, errcode=None, errmsg=raw[:200].decode(errors="replace")),
                           status=status)
    if status >= 300:
        raise IlinkInDoubt(f"iLink answered {endpoint} with HTTP {status}", endpoint=endpoint, status=status)
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise IlinkInDoubt(f"iLink answered {endpoint} with something that is not JSON", endpoint=endpoint,
                           status=status) from None
    if not isinstance(body, dict):
        raise IlinkInDoubt(f"iLink answered {endpoint} with JSON that is not an object", endpoint=endpoint,
                           status=status)
    raise_for_answer(endpoint, _answer(body))
    return body


def _answer(body: Mapping[str, Any]) -> Answer:
    ret, errcode, errmsg = body.get("ret"), body.get("errcode"), body.get("errmsg")
    return Answer(ret=ret if isinstance(ret, int) else None, errcode=errcode if isinstance(errcode, int) else None,
                  errmsg=None if errmsg is None else str(errmsg))

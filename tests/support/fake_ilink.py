"""A fake iLink server (the official WeChat bot's API), as Tencent's client 2.4.9 and the upstream issues describe it.

It listens on 127.0.0.1 on two free ports, in a thread of its own (so a bridge in another process,
Tencent's Node client, or an asyncio test can all use it): `base_url` is the first host, `second_url`
the host a login is redirected to (`scaned_but_redirect`) and the `baseurl` a confirmed login
returns. The CDN is `cdn_base_url` (`/c2c` on the first host). Every request is recorded
(`requests`), headers and body as received.

What it checks like the real server would (as far as the client and the issues tell):
- POSTs need `AuthorizationType: ilink_bot_token`, `X-WECHAT-UIN` (base64 of a decimal uint32),
  `iLink-App-Id`, a numeric `iLink-App-ClientVersion`, a JSON body, and (but for the QR code)
  `base_info.bot_agent`: else HTTP 400. Bot calls without `Authorization: Bearer` get HTTP 401;
  an unknown token or an expired session gets `{"ret": -14, "errcode": -14}` (session timeout).
- getupdates holds until a message for that bot or `poll_hold` seconds; `get_updates_buf` is a
  cursor; every inbound message carries a new `context_token`.
- sendmessage: `ret: -2` when the token is unknown, its window (`window_seconds` after that
  message) is over or its budget (`budget` sends per token) is spent; `ret: -2, errmsg: "rate
  limited"` while a forced rate limit lasts. Accepted sends answer `{}` (no message_id, as reported
  upstream) unless `message_ids` is set.
- CDN uploads are decrypted with the key given to getuploadurl and compared with its size and MD5;
  what arrives in an image or file message is the decrypted plaintext (`Received.data`).

Controls are plain methods, safe to call from any thread: `scan`, `confirm`, `expire_qr`,
`add_bot`, `push`, `expire_session`, `restore_session`, `rate_limit`, `hang_sends`, `fail_uploads`; state is read
with `received`, `login`, `pending_polls`, `requests`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from bridge.wechat.ilink.cdn import decrypt

#: Tencent's client parses these losslessly: give them more than 2**53, as the server's uint64s are.
_BIG_ID = 7_300_000_000_000_000_000


@dataclass
class Request:
    method: str
    path: str
    port: int
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    #: When it came (monotonic), and whether it was answered "session timeout" (-14).
    at: float = field(default_factory=time.monotonic)
    answered_stale: bool = False

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


@dataclass
class Bot:
    bot_id: str
    token: str
    user_id: str
    expired: bool = False


@dataclass
class Inbound:
    seq: int
    bot_id: str
    user_id: str
    text: str
    context_token: str
    at: float


@dataclass
class Received:
    """A message the fake accepted from a bot: what the person would see."""

    user_id: str
    bot_id: str
    kind: str  # text | image | file | video
    text: str = ""
    data: bytes | None = None  # the decrypted plaintext of an image, file or video
    file_name: str | None = None
    context_token: str | None = None
    client_id: str | None = None
    at: float = field(default_factory=time.time)  # when the fake accepted it (wall clock: latencies)


@dataclass
class Login:
    qrcode: str
    url: str
    local_tokens: list[str]
    state: str = "wait"
    user_id: str | None = None
    verify_code: str | None = None
    wrong_codes: int = 0
    redirect: bool = False
    bot: Bot | None = None
    version: int = 0
    seen: dict[int, int] = field(default_factory=dict)  # port -> version last answered there


@dataclass
class Upload:
    filekey: str
    aeskey: bytes
    rawsize: int
    md5: str
    filesize: int
    to_user_id: str
    plaintext: bytes | None = None
    download_param: str | None = None


class FakeIlink:
    def __init__(self, *, window_seconds: float = 24 * 3600, budget: int = 10, poll_hold: float = 2.0,
                 poll_timeout_ms: int = 35_000, qr_hold: float = 2.0, verify_attempts: int = 3) -> None:
        self.window_seconds = window_seconds
        self.budget = budget
        self.poll_hold = poll_hold
        self.poll_timeout_ms = poll_timeout_ms
        self.qr_hold = qr_hold
        self.verify_attempts = verify_attempts
        self.message_ids = False
        self.full_upload_urls = False
        self.requests: list[Request] = []
        self.bots: dict[str, Bot] = {}
        self.inbound: list[Inbound] = []
        self._received: list[Received] = []
        self.refusals: list[dict[str, Any]] = []
        self.logins: list[Login] = []
        self.uploads: dict[str, Upload] = {}  # by upload_param
        self._sent_per_token: dict[str, int] = {}
        self._rate_limited = 0
        self._hang_sends = 0
        self._fail_uploads = 0
        self._cut_polls = 0
        self._pending_polls: dict[str, int] = {}
        self._lock = threading.RLock()
        self._loop = asyncio.new_event_loop()
        self._changed: asyncio.Condition | None = None
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.second_port = 0
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-ilink", daemon=True)

    # -- life -------------------------------------------------------------------------------

    def start(self) -> FakeIlink:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        assert self._release is not None and self._runner is not None
        self._release.set()  # a hung send answers, so its handler ends
        await self._runner.cleanup()
        # Held long polls of clients that went away: end them here, not with the loop.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def __enter__(self) -> FakeIlink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def second_url(self) -> str:
        return f"http://127.0.0.1:{self.second_port}"

    @property
    def cdn_base_url(self) -> str:
        return f"{self.base_url}/c2c"

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        ports = []
        for _ in range(2):
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None
            ports.append(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.port, self.second_port = ports

    def _wake(self) -> None:
        async def notify() -> None:
            assert self._changed is not None
            async with self._changed:
                self._changed.notify_all()

        asyncio.run_coroutine_threadsafe(notify(), self._loop)

    # -- controls: login --------------------------------------------------------------------

    @property
    def login(self) -> Login:
        """The newest login (QR code) started."""
        with self._lock:
            assert self.logins, "nobody asked for a QR code yet"
            return self.logins[-1]

    def scan(self, user_id: str = "alice@im.wechat", *, redirect: bool = False, verify_code: str | None = None) -> None:
        """The person scans the newest QR code (on a phone in another data centre when `redirect`)."""
        with self._lock:
            login = self.login
            login.user_id, login.redirect, login.verify_code = user_id, redirect, verify_code
            already = [b for b in self.bots.values() if b.user_id == user_id and b.token in login.local_tokens]
            login.state = "binded_redirect" if already else ("need_verifycode" if verify_code else "scaned")
            login.version += 1
        self._wake()

    def confirm(self) -> Bot:
        """The person confirms on the phone: a bot is made and bound to them."""
        with self._lock:
            login = self.login
            assert login.user_id is not None, "confirm() before scan()"
            login.bot = self.add_bot(login.user_id)
            login.state = "confirmed"
            login.version += 1
        self._wake()
        return login.bot

    def expire_qr(self) -> None:
        with self._lock:
            self.login.state = "expired"
            self.login.version += 1
        self._wake()

    def add_bot(self, user_id: str) -> Bot:
        """A bot bound to `user_id`, as after a login."""
        with self._lock:
            bot = Bot(bot_id=f"{secrets.token_hex(6)}@im.bot", token=f"{secrets.token_hex(8)}@{secrets.token_hex(16)}",
                      user_id=user_id)
            self.bots[bot.bot_id] = bot
            return bot

    # -- controls: messages -----------------------------------------------------------------

    def push(self, user_id: str, text: str, *, bot: Bot | None = None) -> str:
        """`user_id` writes `text` to their bot (the newest bound to them); returns its context_token."""
        with self._lock:
            target = bot or [b for b in self.bots.values() if b.user_id == user_id][-1]
            token = f"ctx-{secrets.token_hex(12)}"
            self.inbound.append(Inbound(seq=len(self.inbound) + 1, bot_id=target.bot_id, user_id=user_id, text=text,
                                        context_token=token, at=time.monotonic()))
        self._wake()
        return token

    def expire_session(self, user_id: str) -> None:
        """Every bot of `user_id` answers errcode -14 from now on (a new login is needed)."""
        with self._lock:
            for b in self.bots.values():
                if b.user_id == user_id:
                    b.expired = True
        self._wake()

    def restore_session(self, user_id: str) -> None:
        """The bots of `user_id` are taken again (as after the server-side pause, or a fresh login)."""
        with self._lock:
            for b in self.bots.values():
                if b.user_id == user_id:
                    b.expired = False

    def rate_limit(self, sends: int = 1) -> None:
        """The next `sends` sendmessage calls answer ret=-2 "rate limited"."""
        with self._lock:
            self._rate_limited = sends

    def hang_sends(self, sends: int = 1) -> None:
        """The next `sends` messages are delivered, but their answer never comes (until `release`)."""
        with self._lock:
            self._hang_sends = sends
        assert self._release is not None
        self._loop.call_soon_threadsafe(self._release.clear)

    def release(self) -> None:
        assert self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    def cut_polls(self, polls: int = 1) -> None:
        """The next `polls` getupdates calls have their connection closed without an answer."""
        with self._lock:
            self._cut_polls = polls

    def fail_uploads(self, uploads: int = 1) -> None:
        """The CDN answers HTTP 500 to the next `uploads` uploads."""
        with self._lock:
            self._fail_uploads = uploads

    def received(self, user_id: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if user_id is None or r.user_id == user_id]

    def texts(self, user_id: str | None = None) -> list[str]:
        return [r.text for r in self.received(user_id) if r.kind == "text"]

    def requests_of(self, token: str) -> list[Request]:
        """Every request made with `token` (a bot's calls), in order."""
        with self._lock:
            return [r for r in self.requests if r.token == token]

    def pending_polls(self, bot: Bot) -> int:
        with self._lock:
            return self._pending_polls.get(bot.bot_id, 0)

    # -- the server -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - one per kind of answer
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        record = Request(method=request.method, path=request.path, port=port, headers=dict(request.headers),
                         query=dict(request.query), body=body)
        with self._lock:
            self.requests.append(record)
        path = request.path
        if path == "/c2c/upload":
            return await self._cdn_upload(request, raw)
        if path == "/ilink/bot/get_qrcode_status":
            if request.method != "GET":
                return web.Response(status=405)
            return await self._qrcode_status(request, port)
        if request.method != "POST":
            return web.Response(status=405)
        if (problem := self._check_post(request, body, qr=path == "/ilink/bot/get_bot_qrcode")) is not None:
            return web.Response(status=400, text=problem)
        if path == "/ilink/bot/get_bot_qrcode":
            return self._bot_qrcode(request, body)
        bot, refusal = self._authorize(request)
        if refusal is not None:
            record.answered_stale = refusal.status == 200
            return refusal
        assert bot is not None
        handlers = {"/ilink/bot/getupdates": self._getupdates, "/ilink/bot/sendmessage": self._sendmessage,
                    "/ilink/bot/getuploadurl": self._getuploadurl, "/ilink/bot/getconfig": self._getconfig}
        handler = handlers.get(path)
        if handler is None:
            return web.Response(status=404)
        answer = await handler(bot, body, request)
        if isinstance(answer, web.Response) and answer.content_type == "application/json" and answer.body:
            record.answered_stale = orjson.loads(bytes(answer.body)).get("errcode") == -14
        return answer

    @staticmethod
    def _check_post(request: web.Request, body: Any, *, qr: bool) -> str | None:  # noqa: PLR0911 - one per check
        h = request.headers
        if not h.get("Content-Type", "").startswith("application/json"):
            return "Content-Type must be application/json"
        if h.get("AuthorizationType") != "ilink_bot_token":
            return "AuthorizationType must be ilink_bot_token"
        try:
            uin = base64.b64decode(h.get("X-WECHAT-UIN", ""), validate=True).decode()
            if not uin.isdigit() or int(uin) >= 2**32:
                raise ValueError(uin)
        except ValueError:
            return "X-WECHAT-UIN must be base64 of a decimal uint32"
        if not h.get("iLink-App-Id") or not h.get("iLink-App-ClientVersion", "").isdigit():
            return "iLink-App-Id and a numeric iLink-App-ClientVersion are required"
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        if not qr and not (isinstance(body.get("base_info"), dict) and body["base_info"].get("bot_agent")):
            return "base_info.bot_agent is required"
        return None

    def _authorize(self, request: web.Request) -> tuple[Bot | None, web.Response | None]:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None, web.Response(status=401, text="Authorization: Bearer <bot_token> is required")
        token = auth.removeprefix("Bearer ")
        with self._lock:
            bot = next((b for b in self.bots.values() if b.token == token), None)
        if bot is None or bot.expired:
            return None, web.json_response({"ret": -14, "errcode": -14, "errmsg": "session timeout"})
        return bot, None

    # -- login ------------------------------------------------------------------------------

    def _bot_qrcode(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if request.query.get("bot_type") != "3" or not isinstance(body.get("local_token_list"), list):
            return web.Response(status=400, text="bot_type=3 and local_token_list are required")
        qrcode = secrets.token_hex(16)
        with self._lock:
            self.logins.append(Login(qrcode=qrcode, url=f"https://liteapp.weixin.qq.com/q/{qrcode}?bot_type=3",
                                     local_tokens=[str(t) for t in body["local_token_list"]]))
        return web.json_response({"qrcode": qrcode, "qrcode_img_content": self.logins[-1].url, "ret": 0})

    async def _qrcode_status(self, request: web.Request, port: int) -> web.Response:
        if not request.headers.get("iLink-App-Id") or not request.headers.get("iLink-App-ClientVersion"):
            return web.Response(status=400, text="iLink-App-Id and iLink-App-ClientVersion are required")
        with self._lock:
            login = next((g for g in self.logins if g.qrcode == request.query.get("qrcode")), None)
        if login is None:
            return web.json_response({"status": "expired"})
        code = request.query.get("verify_code")
        with self._lock:
            if login.state == "need_verifycode" and code is not None:
                if code == login.verify_code:
                    login.state, login.verify_code = "scaned", None
                else:
                    login.wrong_codes += 1
                    if login.wrong_codes >= self.verify_attempts:
                        login.state = "verify_code_blocked"
                login.version += 1
        assert self._changed is not None
        async with self._changed:  # hold until something new for this host, or qr_hold
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: login.version != login.seen.get(port, 0)),
                                       self.qr_hold)
        with self._lock:
            login.seen[port] = login.version
            state = login.state
            if login.redirect and state not in ("wait", "expired") and port == self.port:
                # Only the other data centre knows how the scan went on.
                return web.json_response({"status": "scaned_but_redirect",
                                          "redirect_host": f"127.0.0.1:{self.second_port}"})
            answer: dict[str, Any] = {"status": state}
            if state == "confirmed" and login.bot is not None:
                answer |= {"bot_token": login.bot.token, "ilink_bot_id": login.bot.bot_id,
                           "baseurl": self.second_url, "ilink_user_id": login.user_id}
        return web.json_response(answer)

    # -- bot calls --------------------------------------------------------------------------

    async def _getupdates(self, bot: Bot, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
        with self._lock:
            cut = self._cut_polls > 0
            self._cut_polls -= cut
        if cut and request.transport is not None:
            request.transport.close()
            return web.Response(status=500)  # never reaches the client: the connection is gone
        buf = str(body.get("get_updates_buf") or "")
        try:
            after = int(orjson.loads(base64.b64decode(buf, validate=True))["seq"]) if buf else 0
        except (ValueError, KeyError, TypeError):
            return web.json_response({"ret": -1, "errmsg": "invalid get_updates_buf"})

        def fresh() -> list[Inbound]:
            with self._lock:
                return [m for m in self.inbound if m.bot_id == bot.bot_id and m.seq > after]

        assert self._changed is not None
        with self._lock:
            self._pending_polls[bot.bot_id] = self._pending_polls.get(bot.bot_id, 0) + 1
        try:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(fresh()) or bot.expired), self.poll_hold)
        finally:
            with self._lock:
                self._pending_polls[bot.bot_id] -= 1
        if bot.expired:
            return web.json_response({"ret": -14, "errcode": -14, "errmsg": "session timeout"})
        msgs = fresh()
        cursor = base64.b64encode(orjson.dumps({"seq": msgs[-1].seq if msgs else after})).decode()
        return web.json_response({
            "ret": 0, "get_updates_buf": cursor, "longpolling_timeout_ms": self.poll_timeout_ms,
            "msgs": [{"seq": m.seq, "message_id": _BIG_ID + m.seq, "from_user_id": m.user_id, "to_user_id": m.bot_id,
                      "create_time_ms": int(time.time() * 1000), "message_type": 1, "message_state": 2,
                      "context_token": m.context_token, "item_list": [{"type": 1, "text_item": {"text": m.text}}]}
                     for m in msgs],
        }, dumps=lambda v: orjson.dumps(v).decode())

    async def _sendmessage(self, bot: Bot, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
        msg = body.get("msg") or {}
        items = msg.get("item_list") or []
        refusal: dict[str, Any] | None = None
        with self._lock:
            token = msg.get("context_token")
            origin = next((m for m in self.inbound if m.context_token == token and m.bot_id == bot.bot_id), None)
            if msg.get("to_user_id") != bot.user_id or msg.get("message_type") != 2 or len(items) != 1:
                refusal = {"ret": -1, "errmsg": "invalid message"}
            elif self._rate_limited > 0:
                self._rate_limited -= 1
                refusal = {"ret": -2, "errmsg": "rate limited"}
            elif origin is None or time.monotonic() - origin.at > self.window_seconds \
                    or self._sent_per_token.get(origin.context_token, 0) >= self.budget:
                refusal = {"ret": -2}
            if refusal is None:
                received = self._item(bot, items[0], msg)
                if received is None:
                    refusal = {"ret": -1, "errmsg": "unknown media"}
                else:
                    assert origin is not None
                    self._sent_per_token[origin.context_token] = self._sent_per_token.get(origin.context_token, 0) + 1
                    self._received.append(received)
            if refusal is not None:
                self.refusals.append(refusal | {"msg": msg})
            hang = refusal is None and self._hang_sends > 0
            if hang:
                self._hang_sends -= 1
        self._wake()
        if refusal is not None:
            return web.json_response(refusal)
        if hang:
            assert self._release is not None
            await self._release.wait()
        if self.message_ids:
            return web.json_response({"ret": 0, "message_id": _BIG_ID + len(self._received)},
                                     dumps=lambda v: orjson.dumps(v).decode())
        return web.json_response({})

    def _item(self, bot: Bot, item: dict[str, Any], msg: dict[str, Any]) -> Received | None:
        common = {"user_id": bot.user_id, "bot_id": bot.bot_id, "context_token": msg.get("context_token"),
                  "client_id": msg.get("client_id")}
        kinds = {1: "text", 2: "image", 4: "file", 5: "video"}
        kind = kinds.get(item.get("type", 0))
        if kind == "text":
            return Received(kind="text", text=str((item.get("text_item") or {}).get("text") or ""), **common)
        if kind is None:
            return None
        sub = item.get(f"{kind}_item") or {}
        media = sub.get("media") or {}
        upload = next((u for u in self.uploads.values() if u.download_param == media.get("encrypt_query_param")), None)
        if upload is None or media.get("encrypt_type") != 1:
            return None
        # Tencent's client sends base64 of the key's hex string; inbound images carry raw bytes.
        decoded = base64.b64decode(media.get("aes_key") or "")
        key = bytes.fromhex(decoded.decode()) if len(decoded) == 32 else decoded
        if key != upload.aeskey:
            return None
        return Received(kind=kind, data=upload.plaintext, file_name=sub.get("file_name"), **common)

    async def _getuploadurl(self, bot: Bot, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
        try:
            upload = Upload(filekey=str(body["filekey"]), aeskey=bytes.fromhex(str(body["aeskey"])),
                            rawsize=int(body["rawsize"]), md5=str(body["rawfilemd5"]), filesize=int(body["filesize"]),
                            to_user_id=str(body["to_user_id"]))
        except (KeyError, ValueError):
            return web.json_response({"ret": -1, "errmsg": "bad upload request"})
        if len(upload.aeskey) != 16 or upload.filesize != (upload.rawsize // 16 + 1) * 16 \
                or upload.to_user_id != bot.user_id or body.get("media_type") not in (1, 2, 3, 4):
            return web.json_response({"ret": -1, "errmsg": "bad upload request"})
        param = secrets.token_urlsafe(24)
        with self._lock:
            self.uploads[param] = upload
        answer: dict[str, Any] = {"ret": 0, "upload_param": param}
        if self.full_upload_urls:
            answer["upload_full_url"] = (f"{self.cdn_base_url}/upload?encrypted_query_param={param}"
                                         f"&filekey={upload.filekey}")
        return web.json_response(answer)

    async def _cdn_upload(self, request: web.Request, raw: bytes) -> web.Response:
        with self._lock:
            upload = self.uploads.get(request.query.get("encrypted_query_param", ""))
            fail = self._fail_uploads > 0
            if fail:
                self._fail_uploads -= 1
        if fail:
            return web.Response(status=500, headers={"x-error-message": "try again"})
        if upload is None or request.query.get("filekey") != upload.filekey:
            return web.Response(status=400, headers={"x-error-message": "unknown upload"})
        try:
            plaintext = decrypt(raw, upload.aeskey)
        except ValueError:
            return web.Response(status=400, headers={"x-error-message": "cannot decrypt"})
        if len(raw) != upload.filesize or len(plaintext) != upload.rawsize \
                or hashlib.md5(plaintext).hexdigest() != upload.md5:
            return web.Response(status=400, headers={"x-error-message": "size or md5 differs"})
        with self._lock:
            upload.plaintext = plaintext
            upload.download_param = secrets.token_urlsafe(32)
        return web.Response(status=200, headers={"x-encrypted-param": upload.download_param})

    async def _getconfig(self, bot: Bot, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
        if not body.get("ilink_user_id"):
            return web.json_response({"ret": -1, "errmsg": "ilink_user_id is required"})
        return web.json_response({"ret": 0, "typing_ticket": base64.b64encode(secrets.token_bytes(12)).decode()})

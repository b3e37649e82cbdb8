"""The status page's routes: login form, the page, its live updates, the route tester, a test send, /metrics.

Everything the page shows comes from the `Overview` the root hands it; the route tester prints
what the `render` command prints (`bridge.render`, on the running pipeline) and a test send is a
direct send through the same `pipeline().direct_send` and intake (`accept`) as `POST /send/<key>`:
queued, paced and reported like any other.

Security: the page and `/metrics` are behind the HTTP token. The page takes it once in a login form
(a POST body, never the URL) and then rides on an HttpOnly, SameSite=Strict session cookie, Secure
when the page is served over HTTPS; every state-changing request carries the session's CSRF token.
The Content-Security-Policy allows scripts, styles and images from the bridge itself only (the QR
code is an inline `data:` SVG), so neither an injected `<script>` nor an inline handler runs; and
Jinja's autoescaping escapes every value, since room names and errors come from WeChat and payloads.

Home Assistant ingress (`bridge.http.ingress`): a request from a trusted ingress proxy is already
authenticated by Home Assistant, so it gets the page without the login form (a fixed session
identity, still with its CSRF token), every link under its `X-Ingress-Path` prefix, and may be shown
in Home Assistant's frame (same origin only). Everyone else logs in with the token as before.

Language: every word the page composes (templates, live sections, the script's messages, the
errors its forms answer) is a catalog message in the config's `locale` (`bridge.i18n`), looked up
at each render, so a reload that changes the locale changes the next page. Templates call
`_`/`pgettext` (Jinja's i18n extension, new-style: the translation is trusted markup, and each
`{field}` given to `.format` is escaped). What comes from WeChat, payloads and the config stays as
it is, and so do report statuses and error sentences, which automations match on.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import importlib.resources
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jinja2
import orjson
from aiohttp import web
from markupsafe import Markup

from bridge import __version__
from bridge.commands.render import render_lines
from bridge.config.models import HttpSettings
from bridge.events import DeliveryReport, Planned, Queued
from bridge.homeassistant import qr_svg
from bridge.http.events import EventStreams
from bridge.http.ingress import FRAMING_HEADERS, Ingress
from bridge.http.overview import Overview, Snapshot
from bridge.http.prometheus import CONTENT_TYPE, PrometheusMetrics
from bridge.http.session import COOKIE, SESSION_SECONDS, Sessions
from bridge.i18n import N_, Texts, texts_for
from bridge.pipeline import plan as pipeline
from bridge.pipeline.filters import duration
from bridge.pipeline.plan import event_id_from
from bridge.pipeline.runtime import LiveRuntime
from bridge.reporting.payloads import iso_time

log = logging.getLogger(__name__)

Accept = Callable[[Planned], Awaitable[DeliveryReport | None]]

#: Paths this module answers; the door's bearer-token check leaves them to it.
PREFIX = "/page/"
METRICS_PATH = "/metrics"
#: A wrong token at the login form costs this long: guessing a 16-character token stays hopeless.
WRONG_TOKEN_SECONDS = 0.5
STATIC = {"page.js": "text/javascript", "page.css": "text/css"}
#: Report topic of a test message sent from the page (where HTTP sends show their path).
SEND_PATH = "/page/send"

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_STATUS_FOR_REASON = {"unknown_room": 404, "direct_not_allowed": 403, "queue_full": 503, "bad_input": 400}
STATUSES = ("delivered", "rejected", "failed", "expired", "dropped")
#: The session identity of requests through ingress: no cookie, Home Assistant logged its user in.
INGRESS_SESSION = "ingress"


class CurrentLocale:
    """gettext's translations, in the locale of the runtime in force at each call: a reload may switch it."""

    def __init__(self, live: LiveRuntime) -> None:
        self._live = live

    def texts(self) -> Texts:
        return texts_for(self._live.current.config.locale)

    def gettext(self, message: str) -> str:
        return self.texts().gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.texts().translations.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self.texts().pgettext(context, message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.texts().translations.npgettext(context, singular, plural, n)


def owns(path: str) -> bool:
    """Whether the status page answers `path` (and checks its own credentials)."""
    return path in ("/", METRICS_PATH) or path.startswith(PREFIX)


def _qr_data_uri(data: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(data)).decode()


class StatusPage:
    def __init__(self, settings: HttpSettings, *, overview: Overview, live: LiveRuntime, accept: Accept,
                 metrics: PrometheusMetrics | None) -> None:
        token = settings.token.get_secret_value().encode() if settings.token else b""
        self._sessions = Sessions(token)
        self._ingress = Ingress.of(settings.ingress_from)
        self._metrics_tokens = [t for t in (token, settings.metrics_token.get_secret_value().encode()
                                            if settings.metrics_token else b"") if t]
        self._overview = overview
        #: Read at each request: a reload applies to the requests after it.
        self._live = live
        self._accept = accept
        self._metrics = metrics
        self._version = __version__
        self._env = jinja2.Environment(loader=jinja2.PackageLoader("bridge.http", "templates"), autoescape=True,
                                       undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"])
        self._locale = CurrentLocale(live)
        self._env.install_gettext_translations(self._locale, newstyle=True)  # type: ignore[attr-defined]  # i18n ext
        self._env.filters["iso"] = lambda ts: iso_time(ts) if ts is not None else ""
        self._env.filters["qr"] = _qr_data_uri
        self._env.filters["duration"] = lambda seconds: duration(seconds, self._texts())
        self._env.globals["code"] = lambda value: Markup("<code>{}</code>").format(value)
        self._streams = EventStreams(overview, self._sections)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_post(PREFIX + "login", self._login)
        app.router.add_post(PREFIX + "logout", self._logout)
        app.router.add_get(PREFIX + "events", self._events)
        app.router.add_post(PREFIX + "try", self._try)
        app.router.add_post(PREFIX + "send", self._send)
        app.router.add_post(PREFIX + "ilink/login", self._ilink_login)
        app.router.add_post(PREFIX + "ilink/verify", self._ilink_verify)
        app.router.add_get(PREFIX + "static/{name}", self._static)
        app.router.add_get(METRICS_PATH, self._metrics_page)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        self._streams.close()

    # --- rendering -----------------------------------------------------------------------------

    def _texts(self) -> Texts:
        return self._locale.texts()

    def _headers(self, request: web.Request) -> dict[str, str]:
        if not self._ingress.proxied(request):
            return SECURITY_HEADERS
        csp = SECURITY_HEADERS["Content-Security-Policy"].replace("frame-ancestors 'none'", "frame-ancestors 'self'")
        return {**SECURITY_HEADERS, **FRAMING_HEADERS, "Content-Security-Policy": csp}

    def _html(self, request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
        body = self._env.get_template(template).render(version=self._version, lang=self._texts().locale,
                                                       base=self._ingress.prefix(request),
                                                       ingress=self._ingress.proxied(request), **context)
        return web.Response(status=status, text=body, content_type="text/html",
                            headers={**self._headers(request), "Cache-Control": "no-store"})

    def _macros(self, snapshot: Snapshot) -> dict[str, str]:
        module = self._env.get_template("sections.html").make_module({"version": self._version})
        return {name: str(getattr(module, name)(snapshot)) for name in ("login", "ilink", "links", "rooms",
                                                                         "queue", "deliveries")}

    async def _sections(self) -> dict[str, str]:
        return self._macros(await self._overview.snapshot())

    # --- login ---------------------------------------------------------------------------------

    def _session(self, request: web.Request) -> str | None:
        if self._ingress.proxied(request):
            return INGRESS_SESSION
        cookie = request.cookies.get(COOKIE)
        return cookie if self._sessions.valid(cookie) else None

    async def _index(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session is None:
            return self._html(request, "login.html", error=None)
        snapshot = await self._overview.snapshot()
        room_keys = sorted({r.key for r in snapshot.configured} | {r.report.room.key for r in snapshot.recent})
        return self._html(request, "page.html", csrf=self._sessions.csrf(session),
                          sections=map_markup(self._macros(snapshot)), statuses=STATUSES, room_keys=room_keys,
                          direct_rooms=self._overview.direct_rooms(), ilink=snapshot.ilink is not None)

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not self._sessions.token_matches(given):
            await asyncio.sleep(WRONG_TOKEN_SECONDS)
            log.warning("HTTP: status page login with a wrong token from %s", request.remote)
            return self._html(request, "login.html", status=401,
                              error=self._texts().gettext("That is not the HTTP token (http.token)."))
        response = web.HTTPSeeOther(self._ingress.prefix(request) + "/", headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, self._sessions.new(), max_age=SESSION_SECONDS, path="/", httponly=True,
                            samesite="Strict", secure=_https(request))
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._session(request)
        form = await request.post()
        token = form.get("csrf")
        if session is None or not self._sessions.csrf_matches(session, token if isinstance(token, str) else None):
            return self._error(403, N_("missing or wrong CSRF token: reload the page"))
        response = web.HTTPSeeOther(self._ingress.prefix(request) + "/", headers=SECURITY_HEADERS)
        response.del_cookie(COOKIE, path="/")
        raise response

    # --- live updates and actions --------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is None:
            return self._error(401, N_("log in first"))
        return await self._streams.stream(request, self._headers(request))

    def _error(self, status: int, message: str, **fields: object) -> web.Response:
        """A refusal the page's script shows as it is: the page's own words, in the locale.

        A delivery's rejection is not one of these: its sentence is the report's, in English.
        """
        return _json(status, {"error": self._texts().gettext(message).format(**fields)})

    async def _action_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The JSON body of a state-changing request, once session and CSRF token are checked."""
        session = self._session(request)
        if session is None:
            return self._error(401, N_("log in first"))
        if not self._sessions.csrf_matches(session, request.headers.get("X-CSRF-Token")):
            return self._error(403, N_("missing or wrong CSRF token: reload the page"))
        if request.content_type != "application/json":
            return self._error(415, N_("the body must be JSON"))
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return self._error(400, N_("the body is not valid JSON: {reason}"), reason=exc)
        return body if isinstance(body, dict) else self._error(400, N_("the body must be a JSON object"))

    async def _try(self, request: web.Request) -> web.Response:
        body = await self._action_body(request)
        if isinstance(body, web.Response):
            return body
        topic, payload = body.get("topic"), body.get("payload", "")
        if not isinstance(topic, str) or not topic or not isinstance(payload, str):
            return self._error(400, N_("give a topic, and the payload as text"))
        lines = render_lines(self._live.current, topic=topic, payload=payload, retained=body.get("retained") is True)
        return _json(200, {"text": "\n".join(lines)})

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._action_body(request)
        if isinstance(body, web.Response):
            return body
        room, text = body.get("room"), body.get("text")
        if not isinstance(room, str) or not isinstance(text, str):
            return self._error(400, N_("choose a room and write a text"))
        outcome = pipeline.direct_send(self._live.current, topic=SEND_PATH, room_key=room, text=text,
                                       event_id=event_id_from(None), received_at=time.time())
        rejection = await self._accept(outcome)
        if rejection is not None:
            return _json(_STATUS_FOR_REASON.get(rejection.reason or "bad_input", 400),
                         {"error": rejection.error, "id": rejection.id})
        assert isinstance(outcome, Queued)
        return _json(202, {"id": outcome.delivery.event_id, "status": "queued"})

    async def _ilink_login(self, request: web.Request) -> web.Response:
        """Start a QR login for a person (bound or not): the page shows its code as it comes."""
        body = await self._action_body(request)
        if isinstance(body, web.Response):
            return body
        logins, name = self._overview.ilink, body.get("name")
        if logins is None:
            return self._error(404, N_("no room uses the official bot ({key})"), key="ilink")
        if not isinstance(name, str) or not name:
            return self._error(400, N_("give the person's name"))
        try:
            logins.start_login(name)
        except ValueError:
            return self._error(400, N_("{name} cannot name a person: use 1 to 64 of a-z, 0-9, _ and -, "
                                       "starting with a letter or a digit"), name=repr(name))
        except RuntimeError:
            return self._error(503, N_("the official bot is starting: try again in a moment"))
        log.info("status page: a QR login for %s started", name)
        return _json(202, {"name": name, "status": "started"})

    async def _ilink_verify(self, request: web.Request) -> web.Response:
        """The number the phone shows, for the login that asks for it."""
        body = await self._action_body(request)
        if isinstance(body, web.Response):
            return body
        logins, name, code = self._overview.ilink, body.get("name"), body.get("code")
        if logins is None:
            return self._error(404, N_("no room uses the official bot ({key})"), key="ilink")
        if not isinstance(name, str) or not isinstance(code, str) or not code.strip():
            return self._error(400, N_("give the person's name and the number"))
        if not logins.give_verify_code(name, code.strip()):
            return self._error(409, N_("no login for {name} waits for a number"), name=name)
        return _json(200, {"name": name, "status": "sent"})

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        data = importlib.resources.files("bridge.http").joinpath("static", name).read_bytes()
        return web.Response(body=data, content_type=STATIC[name],
                            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    # --- metrics -------------------------------------------------------------------------------

    async def _metrics_page(self, request: web.Request) -> web.Response:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given.strip().encode(), token)
                                                 for token in self._metrics_tokens):
            return web.Response(status=401, body=orjson.dumps({"error": "missing or wrong bearer token"}),
                                content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        if self._metrics is None:
            raise web.HTTPNotFound()
        body = self._metrics.render(await self._overview.queue_stats())
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response


def map_markup(sections: dict[str, str]) -> dict[str, Markup]:
    """Sections rendered by the templates are HTML already: mark them so the page does not escape them twice."""
    return {name: Markup(html) for name, html in sections.items()}


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json",
                        headers=SECURITY_HEADERS)


def _https(request: web.Request) -> bool:
    """Served over HTTPS, here or at a proxy in front (trusting the header can only make the cookie stricter)."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"

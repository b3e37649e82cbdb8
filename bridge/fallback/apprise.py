"""The only module that imports Apprise: the fallback's URLs checked and sent to, errors made ours.

Each URL is its own Apprise object, so one that fails does not hide one that worked: a send
counts as sent when any URL took it (`Notified.via`), and is tried again only when all failed.
Apprise runs its services off the event loop (`async_notify`); the connect and read time-outs of
every service are set from `fallback.timeout`, and the whole call is bounded again here, so no
send waits longer than that. A try that ran into a time-out may have reached the service: it is
reported `in_doubt`, and the caller sends it again at most once (`bridge.outbox.sending.MAX_DOUBTS`).

Apprise is imported when first used: by `check`, which says what to install when it is missing,
and by a running bridge a minute before its first fallback send is due (`prepare`). Apprise loads
all of its ~130 service modules (and cryptography with them): ~14 MB that a bridge whose WeChat
never goes away would carry for nothing. So `bridge run` checks the URLs in a short-lived child
process instead (`check_apart`, this module run as `python -m bridge.fallback.apprise`), with the
same sentences as `check`.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bridge.config.models import FallbackSettings
from bridge.errors import FallbackError
from bridge.fallback.rules import scheme
from bridge.outbox.fallback_records import Notified

if TYPE_CHECKING:
    from apprise import NotifyBase

log = logging.getLogger(__name__)

INSTALL = "pip install 'apprise>=2.2,<3' (the Docker image and scripts/setup.sh install it)"
#: On top of the services' own time-outs: Apprise's bookkeeping around a send that timed out.
SLACK_SECONDS = 2.0
#: A failed try that took this share of the time-out ran into it: the service may have the message.
TIMED_OUT_SHARE = 0.9
#: The login QR code's file name, as a notification shows it.
QR_FILE_NAME = "wechat-login-qr.png"


def missing() -> str | None:
    """What to install when the Apprise library cannot be imported, else None."""
    try:
        import apprise  # noqa: F401 - only whether it imports
    except ImportError:
        return f"fallback.urls needs the Apprise library, which is not installed: {INSTALL}"
    return None


def url_problems(urls: Sequence[str]) -> list[tuple[int, str]]:
    """(index, sentence) for each URL Apprise's own parser refuses; the sentence shows the scheme only."""
    import apprise

    known = apprise.NotificationManager()  # type: ignore[no-untyped-call]  # untyped in Apprise 2.x
    problems = []
    for index, url in enumerate(urls):
        shown = f"{scheme(url)}://…"
        if "://" not in url:
            problems.append((index, "not a URL: an Apprise URL looks like ntfy://host/topic or mailto://user:pw@host"))
        elif scheme(url) not in known:
            problems.append((index, f"{shown}: Apprise has no service for the scheme {scheme(url)!r} "
                                    "(its list: https://github.com/caronc/apprise/wiki)"))
        elif apprise.Apprise.instantiate(url) is None:
            problems.append((index, f"{shown}: Apprise cannot use this URL: a part is missing or malformed "
                                    "(see that service's page in Apprise's documentation)"))
    return problems


def check(urls: Sequence[str]) -> tuple[str | None, list[tuple[int, str]]]:
    """What to install (`missing()`), else the URLs Apprise refuses (`url_problems`)."""
    problem = missing()
    return problem, [] if problem else url_problems(urls)


#: How long the child checking the URLs may take (it imports Apprise: a few seconds on a small machine).
CHECK_SECONDS = 60.0


def check_apart(urls: Sequence[str]) -> tuple[str | None, list[tuple[int, str]]]:
    """`check(urls)`, worked out in a child process that imports Apprise so that this one does not.
    The URLs go through stdin, never the command line (`ps` would show them)."""
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=orjson.dumps(list(urls)), capture_output=True,
                              timeout=CHECK_SECONDS, check=True)
        answer = orjson.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, orjson.JSONDecodeError) as exc:
        raise FallbackError(f"the fallback URLs could not be checked ({type(exc).__name__})") from None
    return answer["missing"], [(index, text) for index, text in answer["problems"]]


class AppriseNotifier:
    """Sends one notification through every configured URL; built once at start-up, the URLs checked
    before (`bridge.cli`). Apprise is loaded and each URL's service made when a send is due soon
    (`prepare`, called by the fallback service a minute ahead), or else at the first send."""

    @classmethod
    def of(cls, settings: FallbackSettings) -> AppriseNotifier | None:
        """The notifier of the `fallback` section; None when it names no URL."""
        if not settings.enabled:
            return None
        return cls([url.get_secret_value() for url in settings.urls], timeout=settings.timeout)

    def __init__(self, urls: Sequence[str], *, timeout: float) -> None:
        self._urls = tuple(urls)
        self._timeout = timeout
        self._services: list[tuple[str, NotifyBase]] | None = None
        self._unusable: tuple[str, ...] = ()
        self._making = asyncio.Lock()

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(scheme(url) for url in self._urls)

    async def prepare(self) -> None:
        """Load Apprise and make the services now (an alert or escalation is due soon)."""
        await self._ready()

    async def _ready(self) -> list[tuple[str, NotifyBase]]:
        async with self._making:
            if self._services is None:
                # Off the event loop: importing Apprise's ~130 modules takes a while on a small machine.
                self._services = await asyncio.to_thread(self._make_services)
        return self._services

    def _make_services(self) -> list[tuple[str, NotifyBase]]:
        if missing():  # checked at start-up: only if Apprise was removed under a running bridge
            log.error("fallback: the Apprise library cannot be imported: %s", INSTALL)
            self._unusable = self.schemes
            return []
        import apprise

        services = []
        for index, url in enumerate(self._urls):
            service = apprise.Apprise.instantiate(url)
            if service is None:  # checked at start-up too, by the same Apprise
                log.warning("fallback: Apprise cannot use fallback.urls[%d] (%s://…)", index, scheme(url))
                self._unusable += (scheme(url),)
                continue
            # Each half of the time-out to connecting and to reading the answer: a send is over within it.
            service.socket_connect_timeout = self._timeout / 2
            service.socket_read_timeout = self._timeout / 2
            services.append((scheme(url), service))
        return services

    async def send(self, title: str, body: str, *, picture: bytes | None = None) -> Notified:
        """Send through every URL at once; never raises for a service that fails."""
        services = await self._ready()
        outcomes = await asyncio.gather(*(self._one(service, title, body, picture) for _, service in services))
        via = tuple(name for (name, _), outcome in zip(services, outcomes, strict=True) if outcome == "sent")
        failed = tuple(name for (name, _), outcome in zip(services, outcomes, strict=True) if outcome != "sent")
        failed += self._unusable
        return Notified(via, failed, in_doubt="in_doubt" in outcomes)

    async def _one(self, service: NotifyBase, title: str, body: str, picture: bytes | None) -> str:
        import apprise
        from apprise.attachment.memory import AttachMemory

        notifier = apprise.Apprise()
        notifier.add(service)
        attach: Any = None
        if picture is not None:
            memory = AttachMemory(  # type: ignore[no-untyped-call]  # untyped in Apprise 2.x
                content=picture, name=QR_FILE_NAME, mimetype="image/png")
            attach = apprise.AppriseAttachment(memory)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout + SLACK_SECONDS):
                result = await notifier.async_notify(body=body, title=title, attach=attach)
        except TimeoutError:
            return "in_doubt"
        except Exception as exc:  # a service's bug must not stop the fallback: it failed, said how
            log.warning("fallback: the %s service raised %s", service.service_name, type(exc).__name__)
            return "failed"
        if result:
            return "sent"
        return "in_doubt" if time.monotonic() - started >= self._timeout / 2 * TIMED_OUT_SHARE else "failed"


if __name__ == "__main__":  # check_apart's child: URLs as JSON on stdin, the answer as JSON on stdout
    problem, problems = check(orjson.loads(sys.stdin.buffer.read()))
    sys.stdout.buffer.write(orjson.dumps({"missing": problem, "problems": problems}))

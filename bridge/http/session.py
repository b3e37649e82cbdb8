"""The status page's login: a signed session cookie, and the CSRF token that goes with it (pure).

Stateless on purpose: the cookie is `<issued>.<nonce>.<mac>`, signed with a key derived from the
HTTP token, so sessions survive a restart and all of them end when the token changes. Logging
out clears the cookie in that browser; a copied cookie stays valid until it expires
(`SESSION_SECONDS`) or the token changes.

The CSRF token is a second MAC over the session cookie: a page served to this session embeds it,
and every state-changing request must send it back (a form field or the `X-CSRF-Token` header).
SameSite=Strict already keeps other sites' forms from carrying the cookie; the token is the
second lock that does not depend on the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

COOKIE = "wechat_bridge_session"
#: A week: a phone on the home network stays logged in, a lost one not for ever.
SESSION_SECONDS = 7 * 24 * 3600


class Sessions:
    def __init__(self, token: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._token = token
        self._key = hmac.new(token, b"wechat-mqtt-bridge status page session", hashlib.sha256).digest()
        self._clock = clock

    def token_matches(self, given: str) -> bool:
        return bool(self._token) and hmac.compare_digest(given.strip().encode(), self._token)

    def new(self) -> str:
        """A fresh session cookie value."""
        body = f"{int(self._clock()):x}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac('session', body)}"

    def valid(self, cookie: str | None) -> bool:
        if not cookie or cookie.count(".") != 2:
            return False
        issued, nonce, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", f"{issued}.{nonce}")):
            return False
        try:
            age = self._clock() - int(issued, 16)
        except ValueError:
            return False
        return 0 <= age < SESSION_SECONDS

    def csrf(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def csrf_matches(self, cookie: str, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf(cookie))

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()[:43]

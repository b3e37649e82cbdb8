"""Home Assistant ingress for the status page (pure): who is the Supervisor's proxy, and under which prefix.

Through ingress, the Supervisor proxies the page into Home Assistant's sidebar: requests arrive from
its own address (172.30.32.2 on a Home Assistant OS machine; `http.ingress_from` lists the trusted
ones) with the path prefix the browser sees in `X-Ingress-Path` (`/api/hassio_ingress/<token>`).
Home Assistant has logged its user in already, so such a request needs no page token; any other
caller still does. The header counts only from a trusted address: anyone else could otherwise
point the page's links elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

HEADER = "X-Ingress-Path"
#: The prefix the Supervisor sends: a plain absolute path. Anything else is ignored, not echoed into links.
_PREFIX = re.compile(r"^/[A-Za-z0-9._~/-]*$")
#: Inside Home Assistant's frontend the page is an iframe of the same origin: allow that, still no other site.
FRAMING_HEADERS = {"X-Frame-Options": "SAMEORIGIN"}


@dataclass(frozen=True, slots=True)
class Ingress:
    trusted: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]

    @classmethod
    def of(cls, addresses: Iterable[object]) -> Ingress:
        return cls(frozenset(ipaddress.ip_address(str(a)) for a in addresses))

    def proxied(self, request: web.Request) -> bool:
        """Whether the request comes from a trusted ingress proxy (the Supervisor)."""
        if not self.trusted or request.remote is None:
            return False
        try:
            return ipaddress.ip_address(request.remote) in self.trusted
        except ValueError:  # a unix socket's peer, say
            return False

    def prefix(self, request: web.Request) -> str:
        """The path the page's links start with: the ingress prefix, without its trailing slash, or ''."""
        if not self.proxied(request):
            return ""
        given = request.headers.get(HEADER, "").rstrip("/")
        return given if _PREFIX.match(given) and "//" not in given else ""

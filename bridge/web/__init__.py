"""The status page at `/` and `GET /metrics`, part of the HTTP door (aiohttp is imported here and in http.py only).

`page.py` routes, `session.py` the login cookie and CSRF tokens, `events.py` the live updates
(Server-Sent Events); templates and static files are package data, served from the bridge itself:
nothing is fetched from the internet.
"""

from bridge.web.page import StatusPage

__all__ = ["StatusPage"]

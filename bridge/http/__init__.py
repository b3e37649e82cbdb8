"""HTTP, both ways: the only package that imports aiohttp (server and client).

`door.py` is the server and its sending endpoints (`POST /sendmessage`, `/send/<room key>`,
`/apprise/<room key>`, `GET /healthz`); the status page at `/` and `GET /metrics` are `page.py`
(routes), `session.py` (the login cookie and CSRF tokens), `events.py` (live updates over
Server-Sent Events), `overview.py` (what the page shows) and `prometheus.py` (the metrics, the only
module importing prometheus_client). `download.py` fetches attachments given as a URL. Imports the
core, `bridge.config`, `bridge.pipeline`, `bridge.outbox`, `bridge.wechat`, `bridge.reporting`,
`bridge.homeassistant` and `bridge.commands` (`render`, for the page's preview). Templates and
static files are package data, served from the bridge itself: nothing is fetched from the internet.
"""

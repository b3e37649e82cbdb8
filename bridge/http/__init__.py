"""The HTTP door: the only package, with `bridge.download`, that imports aiohttp.

`door.py` is the server and its sending endpoints (`POST /sendmessage`, `/send/<room key>`,
`/apprise/<room key>`, `GET /healthz`); the status page at `/` and `GET /metrics` are `page.py`
(routes), `session.py` (the login cookie and CSRF tokens) and `events.py` (live updates over
Server-Sent Events). Templates and static files are package data, served from the bridge itself:
nothing is fetched from the internet.
"""

"""HTTP/1.1 over asyncio streams: how the official bot reaches iLink and its CDN.

Why not aiohttp's client: on a small machine it costs ~10 MB of memory and ~0.1 s of start-up,
paid by every user of the official bot, for what iLink needs: a JSON POST or a GET, answered
with a body of known length, over TLS. Cookies, redirects, proxies, compression and websockets,
which aiohttp brings, iLink never uses (Tencent's client calls plain `fetch`). aiohttp's server
stays the HTTP door's, loaded only when `http` is configured.

Owns: connections (a session keeps a few idle ones per host and reuses one for at most 15 s,
aiohttp's default keep-alive), TLS with the system's CA certificates (`ssl.create_default_context`,
what aiohttp used), reading an answer (Content-Length, chunked, or until the connection closes)
and deadlines. Every failure becomes one of two errors, the line that matters for a message:

    ConnectFailed  nothing was sent: DNS, refused, TLS handshake, connect timed out
    NoAnswer       the request may have left: our deadline, a cut connection, an answer that is
                   not HTTP or is too large

`api.py` turns them into iLink's errors. May import: the standard library only.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlencode, urlsplit

#: How long an idle connection is kept for the next request (aiohttp's default keep-alive). A server
#: may close it sooner; a request on a connection closed under it is `NoAnswer`, as with aiohttp.
KEEPALIVE_SECONDS = 15.0
#: Idle connections kept per host: one bot polls and sends, so two are in use at most.
MAX_IDLE_PER_HOST = 4
#: The status line and headers of an answer (aiohttp's limit is 8 KiB a line).
MAX_HEAD_BYTES = 64 * 1024
#: iLink's answers are small JSON, the CDN's empty; a larger body is not iLink's.
MAX_BODY_BYTES = 16 * 1024 * 1024


class HttpFailure(Exception):
    """A request that got no HTTP answer. `reason` is for people; `timed_out` says it was our deadline."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class ConnectFailed(HttpFailure):
    """No connection: nothing of the request was sent."""


class NoAnswer(HttpFailure):
    """The request may have reached the server; its answer did not reach us."""


class _Malformed(Exception):
    """An answer that is not HTTP/1.x as we read it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    status: int
    #: Names in lower case; a repeated header's values joined with ", ".
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default=0.0)

    def fresh(self, now: float, keepalive: float) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof() and now - self.idle_since < keepalive

    def abort(self) -> None:
        # No TLS goodbye on a connection we give up on: it is broken or its answer is unread.
        self.writer.transport.abort()


class HttpSession:
    """The connections of one process to iLink and its CDN. Use as `async with HttpSession() as s`."""

    def __init__(self, *, keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self._keepalive = keepalive_seconds
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def __aenter__(self) -> HttpSession:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self._closed = True
        idle = [c for conns in self._idle.values() for c in conns]
        self._idle.clear()
        for conn in idle:
            conn.writer.close()
        if idle:  # a moment for the TLS goodbyes; a server that does not answer them is not waited for
            await asyncio.wait([asyncio.ensure_future(c.writer.wait_closed()) for c in idle], timeout=1.0)

    async def request(self, method: str, url: str, *, seconds: float, connect_seconds: float,
                      params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                      body: bytes | None = None) -> Response:
        """One request, answered within `seconds` (connecting within `connect_seconds` of them)."""
        if self._closed:
            raise ConnectFailed("the HTTP session is closed")
        origin, target = _split(url, params)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        conn = await self._connection(origin, min(connect_seconds, seconds))
        try:
            async with asyncio.timeout_at(deadline):
                response, reusable = await _exchange(conn, method=method, target=target, origin=origin,
                                                     headers=headers or {}, body=body)
        except TimeoutError:
            conn.abort()
            raise NoAnswer(f"no answer within {seconds:g} s", timed_out=True) from None
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                _Malformed) as exc:
            conn.abort()
            raise NoAnswer(_describe(exc)) from None
        except BaseException:  # cancelled mid-request: the connection's state is unknown
            conn.abort()
            raise
        if reusable and not self._closed:
            self._park(origin, conn, loop.time())
        else:
            conn.writer.close()
        return response

    async def _connection(self, origin: _Origin, seconds: float) -> _Connection:
        now = asyncio.get_running_loop().time()
        idle = self._idle.get(origin, [])
        while idle:
            conn = idle.pop()
            if conn.fresh(now, self._keepalive):
                return conn
            conn.writer.close()
        tls = self._tls_context() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(
                    origin.host, origin.port, ssl=tls, server_hostname=origin.host if tls else None,
                    happy_eyeballs_delay=0.25, limit=MAX_HEAD_BYTES)
        except TimeoutError:
            raise ConnectFailed(f"no connection to {origin.host_header} within {seconds:g} s",
                                timed_out=True) from None
        except OSError as exc:  # DNS (gaierror), refused, unreachable, TLS handshake (SSLError)
            raise ConnectFailed(_why_not_connected(origin, exc)) from None
        return _Connection(reader, writer)

    def _park(self, origin: _Origin, conn: _Connection, now: float) -> None:
        conn.idle_since = now
        idle = self._idle.setdefault(origin, [])
        idle.append(conn)
        while len(idle) > MAX_IDLE_PER_HOST:
            idle.pop(0).writer.close()

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # made at the first https request: loading the CA certificates costs memory
            self._tls = ssl.create_default_context()
        return self._tls


def _split(url: str, params: Mapping[str, str] | None) -> tuple[_Origin, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConnectFailed(f"not an http(s) URL: {url}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ConnectFailed(f"not a valid port in {url}") from None
    query = parts.query
    if params:
        query = f"{query}&{urlencode(params)}" if query else urlencode(params)
    target = (parts.path or "/") + (f"?{query}" if query else "")
    return _Origin(scheme, parts.hostname, port), target


async def _exchange(conn: _Connection, *, method: str, target: str, origin: _Origin, headers: Mapping[str, str],
                    body: bytes | None) -> tuple[Response, bool]:
    """Write the request, read its answer; True when the connection can carry another request."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}", "Accept-Encoding: identity"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body or b'')}")
    conn.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
    await conn.writer.drain()
    while True:
        status, version, answer_headers = await _read_head(conn.reader)
        if status >= 200 or status == 101:
            break  # a 100 Continue (or another 1xx) comes before the answer
    if status == 101:
        raise _Malformed("the server switched protocols")
    bodiless = method == "HEAD" or status in (204, 304)
    tokens = {t.strip().lower() for t in answer_headers.get("connection", "").split(",")}
    reusable = version == "HTTP/1.1" and "close" not in tokens
    if bodiless:
        content = b""
    elif "chunked" in answer_headers.get("transfer-encoding", "").lower():
        content = await _read_chunked(conn.reader)
    elif "content-length" in answer_headers:
        length = _number(answer_headers["content-length"], 10, "a Content-Length")
        if length > MAX_BODY_BYTES:
            raise _Malformed(f"an answer of {length} bytes")
        content = await conn.reader.readexactly(length)
    else:  # no length: the body ends with the connection
        content = await _read_to_end(conn.reader)
        reusable = False
    return Response(status=status, headers=answer_headers, body=content), reusable


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest.partition(" ")[0]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise _Malformed(f"not an HTTP answer: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise _Malformed(f"a header line without a colon: {line[:60]!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return int(code), version, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip().decode("latin-1")
        size = _number(line, 16, "a chunk size")
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, unused
                pass
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise _Malformed(f"an answer of over {MAX_BODY_BYTES} bytes")
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise _Malformed("a chunk not followed by CRLF")


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while chunk := await reader.read(65536):
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise _Malformed(f"an answer of over {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _number(text: str, base: int, what: str) -> int:
    digits = "0123456789abcdef"[:base]
    if not text or text.lower().strip(digits):
        raise _Malformed(f"{what} that is not a number: {text[:20]!r}")
    return int(text, base)


def _why_not_connected(origin: _Origin, exc: OSError) -> str:
    """The reason a person reads in doctor's output and the logs (asyncio's own names no host)."""
    where = origin.host_header
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS with {where} failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection"
    if isinstance(exc, socket.gaierror):
        return f"{origin.host} was not found ({exc.strerror})"
    return f"no connection to {where}: {exc.strerror or exc}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the connection closed before the whole answer came" if exc.partial else "the connection closed"
    if isinstance(exc, asyncio.LimitOverrunError):
        return "an answer whose headers are too long"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__

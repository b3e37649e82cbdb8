"""The official bot's HTTP/1.1 client against scripted servers: what each kind of answer becomes.

Each server is a real socket on 127.0.0.1 that reads one request and writes the bytes a test gives,
so the framing cases (chunked, no length, 100 Continue, a cut, garbage) are exactly what arrives.
The TLS test uses a CA made here and trusted through SSL_CERT_FILE, as a system CA would be.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bridge.wechat.ilink.web import ConnectFailed, HttpSession, NoAnswer
from tests.unit.wechat.ilink.conftest import until

Reply = Callable[[bytes], bytes | None]  # the request's bytes -> what to write back (None: hang)


class Server:
    """Answers each request on each connection with `reply`; counts connections and keeps the requests."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0
        self.close_after = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.reply(request)
                if answer is None:
                    await asyncio.sleep(3600)
                writer.write(answer or b"")
                await writer.drain()
                if self.close_after or b"connection: close" in (answer or b"").lower() or not answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(reply: Reply, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[Server, str]]:
    server = Server(reply)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"
    finally:
        listener.close()


def fixed(answer: bytes) -> Reply:
    return lambda _request: answer


JSON_OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"ret":0}'


async def test_a_post_carries_its_headers_body_and_host_and_reads_a_content_length_answer() -> None:
    async with serving(fixed(b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\nX-Encrypted-Param: abc\r\n\r\n{"ret":0}')) as (
            server, url), HttpSession() as session:
        answer = await session.request("POST", f"{url}/ilink/bot/sendmessage", params={"a": "b c"},
                                       headers={"Authorization": "Bearer t"}, body=b'{"x":1}', seconds=5,
                                       connect_seconds=5)
    assert (answer.status, answer.body, answer.headers["x-encrypted-param"]) == (200, b'{"ret":0}', "abc")
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /ilink/bot/sendmessage?a=b+c HTTP/1.1"
    assert {f"Host: {url.removeprefix('http://')}", "Authorization: Bearer t", "Content-Length: 7"} <= set(lines)
    assert body == b'{"x":1}'


async def test_a_chunked_answer_is_put_together_and_the_connection_is_used_again() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\n{\"re\r\n5\r\nt\":0}\r\n0\r\nTrailer: x\r\n\r\n")
    async with serving(fixed(chunked)) as (server, url), HttpSession() as session:
        first = await session.request("GET", f"{url}/a", seconds=5, connect_seconds=5)
        second = await session.request("GET", f"{url}/b", seconds=5, connect_seconds=5)
    assert first.body == second.body == b'{"ret":0}'
    assert server.connections == 1 and len(server.requests) == 2


async def test_an_answer_without_a_length_ends_with_the_connection_which_is_not_used_again() -> None:
    async with serving(fixed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")) as (server, url), \
            HttpSession() as session:
        first = await session.request("GET", f"{url}/a", seconds=5, connect_seconds=5)
        second = await session.request("GET", f"{url}/b", seconds=5, connect_seconds=5)
    assert first.body == second.body == b"all of it"
    assert server.connections == 2


async def test_an_interim_100_continue_is_skipped() -> None:
    async with serving(fixed(b"HTTP/1.1 100 Continue\r\n\r\n" + JSON_OK)) as (_, url), HttpSession() as session:
        answer = await session.request("POST", url, body=b"{}", seconds=5, connect_seconds=5)
    assert (answer.status, answer.body) == (200, b'{"ret":0}')


async def test_an_idle_connection_older_than_the_keepalive_is_not_used() -> None:
    async with serving(fixed(JSON_OK)) as (server, url), HttpSession(keepalive_seconds=0.0) as session:
        await session.request("GET", url, seconds=5, connect_seconds=5)
        await session.request("GET", url, seconds=5, connect_seconds=5)
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_used() -> None:
    async with serving(fixed(JSON_OK)) as (server, url), HttpSession() as session:
        server.close_after = True  # it answers with keep-alive, then closes the connection anyway
        await session.request("GET", url, seconds=5, connect_seconds=5)
        idle = [c for conns in session._idle.values() for c in conns]
        await until(lambda: len(idle) == 1 and idle[0].reader.at_eof(), what="the server's close, seen by the client")
        server.close_after = False
        answer = await session.request("GET", url, seconds=5, connect_seconds=5)
    assert answer.body == b'{"ret":0}' and server.connections == 2


async def test_nobody_listening_is_connect_failed_nothing_was_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with HttpSession() as session:
        with pytest.raises(ConnectFailed) as failed:
            await session.request("POST", f"http://127.0.0.1:{port}/x", body=b"{}", seconds=5, connect_seconds=5)
    assert (failed.value.timed_out, failed.value.reason) == (False, f"127.0.0.1:{port} refused the connection")


async def test_a_name_that_does_not_resolve_is_connect_failed() -> None:
    async with HttpSession() as session:
        with pytest.raises(ConnectFailed, match=r"^nowhere\.invalid was not found \("):
            await session.request("GET", "http://nowhere.invalid/x", seconds=5, connect_seconds=5)


async def test_an_answer_that_never_comes_is_no_answer_timed_out() -> None:
    async with serving(lambda _request: None) as (server, url), HttpSession() as session:
        with pytest.raises(NoAnswer) as late:
            await session.request("POST", url, body=b"{}", seconds=0.3, connect_seconds=5)
    assert late.value.timed_out and server.requests  # it left: in doubt, not failed


@pytest.mark.parametrize(("answer", "reason"), [
    (b"", "the connection closed"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nshort",
     "the connection closed before the whole answer came"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer: 'SSH-2.0-OpenSSH'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "an answer of 99999999999 bytes"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a chunk size that is not a number: 'zz'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "a Content-Length that is not a number: '-1'"),
])
async def test_a_cut_or_garbled_answer_is_no_answer_not_timed_out(answer: bytes, reason: str) -> None:
    async with serving(fixed(answer)) as (_, url), HttpSession() as session:
        with pytest.raises(NoAnswer) as broken:
            await session.request("GET", url, seconds=5, connect_seconds=5)
    assert (broken.value.timed_out, broken.value.reason) == (False, reason)


async def test_a_closed_session_sends_nothing() -> None:
    session = HttpSession()
    await session.close()
    with pytest.raises(ConnectFailed, match="closed"):
        await session.request("GET", "http://127.0.0.1:9/", seconds=1, connect_seconds=1)
    assert session.closed


def _certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a certificate for `localhost` signed by it: (the CA's file, the server's context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    return folder / "ca.pem", server


async def test_https_is_verified_against_the_systems_cas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, server_tls = _certificates(tmp_path)
    async with serving(fixed(JSON_OK), tls=server_tls) as (server, url):
        async with HttpSession() as untrusting:  # the test CA is no system CA: the handshake fails, nothing sent
            with pytest.raises(ConnectFailed, match=r"^TLS with localhost:[0-9]+ failed: unable to get local issuer"):
                await untrusting.request("POST", url, body=b"{}", seconds=5, connect_seconds=5)
        assert server.requests == []
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # what a system CA is to OpenSSL's default paths
        async with HttpSession() as trusting:
            answer = await trusting.request("POST", url, body=b"{}", seconds=5, connect_seconds=5)
    assert (answer.status, answer.body) == (200, b'{"ret":0}')

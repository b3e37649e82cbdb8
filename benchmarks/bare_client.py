"""Our WeChat client alone, in its own process: `python -m benchmarks.bare_client ENDPOINT TOKEN ROOM N`.

It connects, waits for login, prints `ready`, waits for a line on stdin (the benchmark clears the
gateway's record meanwhile), sends N texts one after another with `WeChatClient.send_text`,
and prints one JSON line: {"wall": seconds, "cpu": seconds of this process}. No MQTT, outbox
or report around the sends: the ceiling of one-at-a-time sends through our client and the gateway.

A process of its own so its CPU time is the client's alone (the benchmark's process also reads
every event the gateway prints) and so each checkout's client runs with that checkout's venv.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import sys
import time
from typing import Any


def client_class() -> Any:
    """`bridge.wechat.WeChatClient`, or whichever class the app itself builds if it moved."""
    try:
        from bridge.wechat.client import WeChatClient
    except ImportError:
        from bridge.app import WeChatClient  # type: ignore[attr-defined, no-redef, unused-ignore]
    return WeChatClient


async def ignore(event: object) -> None:
    return None


def make_client(endpoint: str, token: str) -> Any:
    """The one place that knows WeChatClient's constructor: plaintext to the local mock gateway.

    Keywords the client does not take are left out, so the SDK client and the grpcio one (which
    adds TLS settings, defaulting to plaintext) both build here. A new required keyword stops the
    benchmark with its name: add it below.
    """
    wanted: dict[str, Any] = {"endpoint": endpoint, "token": token, "send_timeout": 30.0, "on_event": ignore,
                              "listening": lambda: False,  # no room listens: sends are not read back
                              "tls": None}  # plaintext, as `wechaty.tls` omitted
    client = client_class()
    parameters = inspect.signature(client).parameters
    missing = [name for name, p in parameters.items()
               if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD and name not in wanted]
    if missing:
        raise TypeError(f"WeChatClient now requires {missing}: give them in benchmarks/bare_client.py make_client")
    return client(**{name: value for name, value in wanted.items() if name in parameters})


async def main(endpoint: str, token: str, room: str, n: int) -> None:
    client = make_client(endpoint, token)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.wait_logged_in(), timeout=60)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(n):
            await client.send_text(room, f"bare {i}")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # the SDK's chatter goes to stderr, shown only on failure
    endpoint, token, room, count = sys.argv[1:5]
    asyncio.run(main(endpoint, token, room, int(count)))

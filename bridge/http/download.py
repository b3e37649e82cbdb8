"""Attachments given as a URL: fetched when the message is sent, bounded in time and size.

The only other module that imports aiohttp (its client half; the server half is the HTTP door);
its errors become `SendError`, transient when a later try may succeed.
"""

from __future__ import annotations

import aiohttp

from bridge.errors import SendError


async def download(url: str, *, max_bytes: int, seconds: float) -> bytes:
    """GET `url` for an attachment: bounded in time and size. Raises `SendError` on failure."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.get(url) as response:
            if response.status != 200:
                transient = response.status >= 500 or response.status == 429
                raise SendError(f"downloading {url} gave HTTP {response.status}", transient=transient)
            if response.content_length is not None and response.content_length > max_bytes:
                raise SendError(f"{url} is {response.content_length} bytes, more than the {max_bytes} allowed "
                                "(attachments.max_bytes)", transient=False)
            data = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                data += chunk
                if len(data) > max_bytes:
                    raise SendError(f"{url} is larger than the {max_bytes} bytes allowed (attachments.max_bytes)",
                                    transient=False)
            return bytes(data)
    except TimeoutError:
        raise SendError(f"downloading {url} took more than {seconds:g} s", transient=True) from None
    except aiohttp.ClientError as exc:
        raise SendError(f"cannot download {url}: {exc}", transient=True) from None

"""Images and files the way Tencent's client sends them (src/cdn/upload.ts, cdn-upload.ts, aes-ecb.ts, send.ts).

1. A fresh 16-byte AES key and a 16-byte filekey (hex) per file.
2. getuploadurl with the plaintext's size and MD5 (hex), the ciphertext's size and the key as hex.
3. POST the AES-128-ECB/PKCS7 ciphertext to `upload_full_url`, or else to
   `{cdn_base_url}/upload?encrypted_query_param=<upload_param>&filekey=<filekey>`;
   the CDN answers 200 with the header `x-encrypted-param`, the file's name for the download.
   Tencent's client tries three times, except after a 4xx.
4. sendmessage with one item naming it: `media.encrypt_query_param` = that header,
   `media.aes_key` = base64 of the key's *hex string* (32 ASCII bytes, not the 16 raw bytes), and
   `encrypt_type` 1. A caption is a separate TEXT message sent first: two requests, two of the budget.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bridge.wechat.ilink.api import DEFAULT_CDN_BASE_URL, IlinkClient
from bridge.wechat.ilink.errors import IlinkInDoubt, IlinkRefused, IlinkUnreachable
from bridge.wechat.ilink.models import Accepted, ItemType, MediaType

#: UPLOAD_MAX_RETRIES of cdn-upload.ts. An upload is not a message: trying again costs no budget.
UPLOAD_ATTEMPTS = 3
#: `encrypt_type` of a CDN reference sent by Tencent's client ("packs thumbnail info").
ENCRYPT_TYPE = 1


def encrypt(plaintext: bytes, key: bytes) -> bytes:
    """AES-128-ECB with PKCS7 padding (Node's createCipheriv("aes-128-ecb") default)."""
    # Imported here: cryptography costs ~6 MB, paid only by a bridge that sends a file.
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    # ECB is iLink's choice, not ours: the CDN decrypts exactly this.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt(ciphertext: bytes, key: bytes) -> bytes:
    """The inverse of `encrypt` (the fake server's side, and inbound media)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def padded_size(size: int) -> int:
    """The ciphertext's size: PKCS7 always adds 1 to 16 bytes (`aesEcbPaddedSize`)."""
    return (size // 16 + 1) * 16


def aes_key_field(key: bytes) -> str:
    """`media.aes_key` as Tencent's client writes it: base64 of the key's hex string."""
    return base64.b64encode(key.hex().encode("ascii")).decode("ascii")


@dataclass(kw_only=True, frozen=True, slots=True)
class Uploaded:
    """A file on the CDN, ready to be named in a message item."""

    filekey: str
    download_param: str
    aes_key: bytes = field(repr=False)
    size: int
    ciphertext_size: int

    def media(self) -> dict[str, Any]:
        return {"encrypt_query_param": self.download_param, "aes_key": aes_key_field(self.aes_key),
                "encrypt_type": ENCRYPT_TYPE}

    def image_item(self) -> dict[str, Any]:
        # mid_size is the ciphertext's size (send.ts: "original ciphertext file size").
        return {"type": int(ItemType.IMAGE), "image_item": {"media": self.media(), "mid_size": self.ciphertext_size}}

    def file_item(self, file_name: str) -> dict[str, Any]:
        # len is the plaintext's size, as a string (FileItem.len in types.ts).
        return {"type": int(ItemType.FILE),
                "file_item": {"media": self.media(), "file_name": file_name, "len": str(self.size)}}

    def video_item(self) -> dict[str, Any]:
        return {"type": int(ItemType.VIDEO), "video_item": {"media": self.media(), "video_size": self.ciphertext_size}}


def upload_url(cdn_base_url: str, upload_param: str, filekey: str) -> str:
    """`buildCdnUploadUrl` of cdn-url.ts, used when getuploadurl gives no upload_full_url."""
    return (f"{cdn_base_url.rstrip('/')}/upload?encrypted_query_param={quote(upload_param, safe='')}"
            f"&filekey={quote(filekey, safe='')}")


async def upload(client: IlinkClient, *, data: bytes, media_type: MediaType, to_user_id: str,
                 cdn_base_url: str = DEFAULT_CDN_BASE_URL) -> Uploaded:
    """Steps 1 to 3: encrypt, ask where, upload; the answer names the file for step 4."""
    key = secrets.token_bytes(16)
    filekey = secrets.token_hex(16)
    ciphertext = encrypt(data, key)
    ticket = await client.get_upload_url(
        filekey=filekey, media_type=media_type, to_user_id=to_user_id, rawsize=len(data),
        rawfilemd5=hashlib.md5(data).hexdigest(), filesize=len(ciphertext), aeskey_hex=key.hex(),
    )
    if ticket.upload_full_url:
        url = ticket.upload_full_url
    elif ticket.upload_param:
        url = upload_url(cdn_base_url, ticket.upload_param, filekey)
    else:
        raise IlinkInDoubt("iLink getuploadurl named no upload URL", endpoint="getuploadurl", status=200)
    last: IlinkInDoubt | IlinkUnreachable | None = None
    for _ in range(UPLOAD_ATTEMPTS):
        try:
            param = await client.upload_to_cdn(url, ciphertext)
        except IlinkRefused:  # a 4xx: the same bytes would be refused again
            raise
        except (IlinkInDoubt, IlinkUnreachable) as exc:
            last = exc
            continue
        return Uploaded(filekey=filekey, download_param=param, aes_key=key, size=len(data),
                        ciphertext_size=len(ciphertext))
    assert last is not None
    raise last


async def send_media(client: IlinkClient, *, to_user_id: str, item: Mapping[str, Any], caption: str,
                     context_token: str | None) -> tuple[Accepted, ...]:
    """Step 4: the caption (when there is one) as its own text message, then the item (send.ts)."""
    sent: list[Accepted] = []
    if caption:
        sent.append(await client.send_text(to_user_id=to_user_id, text=caption, context_token=context_token))
    sent.append(await client.send_item(to_user_id=to_user_id, item=item, context_token=context_token))
    return tuple(sent)


async def send_image(client: IlinkClient, *, to_user_id: str, data: bytes, caption: str = "",
                     context_token: str | None, cdn_base_url: str = DEFAULT_CDN_BASE_URL) -> tuple[Accepted, ...]:
    """An image, with an optional caption: one or two sendmessage requests (each costs budget)."""
    uploaded = await upload(client, data=data, media_type=MediaType.IMAGE, to_user_id=to_user_id,
                            cdn_base_url=cdn_base_url)
    return await send_media(client, to_user_id=to_user_id, item=uploaded.image_item(), caption=caption,
                            context_token=context_token)


async def send_file(client: IlinkClient, *, to_user_id: str, data: bytes, file_name: str, caption: str = "",
                    context_token: str | None, cdn_base_url: str = DEFAULT_CDN_BASE_URL) -> tuple[Accepted, ...]:
    """A file attachment, with an optional caption: one or two sendmessage requests."""
    uploaded = await upload(client, data=data, media_type=MediaType.FILE, to_user_id=to_user_id,
                            cdn_base_url=cdn_base_url)
    return await send_media(client, to_user_id=to_user_id, item=uploaded.file_item(file_name), caption=caption,
                            context_token=context_token)

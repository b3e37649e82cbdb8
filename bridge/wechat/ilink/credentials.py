"""What a QR login returned, and where each person's long poll stands, one pair of files per person.

    <directory>/<name>.json          Credentials: token, base URL, bot id, user id (mode 0600)
    <directory>/<name>.cursor.json   Cursor: get_updates_buf, last context_token, its time, sends on it

Both are written whole to a temporary file created with mode 0600, flushed to disk and renamed over
the old one, so a crash leaves the old file or the new one, never half of one. The cursor is
separate because it changes with every inbound message and the credentials only at a login.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

#: A person's name is a file name and a topic level: keep it to what is safe in both.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_CREDENTIALS_SUFFIX = ".json"
_CURSOR_SUFFIX = ".cursor.json"


def check_name(name: str) -> str:
    """`name` when it can be a person's name; ValueError with a sentence otherwise."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"{name!r} cannot name a person: use 1 to 64 of a-z, 0-9, '_' and '-', "
                         "starting with a letter or a digit")
    return name


@dataclass(kw_only=True, frozen=True, slots=True)
class Credentials:
    """One bound person's bot, as the login's `confirmed` answer gave it."""

    name: str
    token: str = field(repr=False)
    base_url: str  # the `baseurl` of `confirmed`: that person's later calls go there
    bot_id: str  # ilink_bot_id
    user_id: str  # ilink_user_id: the person, the only one the bot can write to
    bound_at: float  # epoch seconds

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "token": self.token, "base_url": self.base_url, "bot_id": self.bot_id,
                "user_id": self.user_id, "bound_at": self.bound_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credentials:
        return cls(name=str(data["name"]), token=str(data["token"]), base_url=str(data["base_url"]),
                   bot_id=str(data["bot_id"]), user_id=str(data["user_id"]), bound_at=float(data["bound_at"]))


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where one person's long poll stands and what their last message allows."""

    get_updates_buf: str = ""
    context_token: str | None = field(default=None, repr=False)
    last_inbound_at: float | None = None  # epoch seconds of the message that gave context_token
    spent: int = 0  # messages sent on context_token, so a restart does not hand out its budget twice

    def to_json(self) -> dict[str, Any]:
        return {"get_updates_buf": self.get_updates_buf, "context_token": self.context_token,
                "last_inbound_at": self.last_inbound_at, "spent": self.spent}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        at = data.get("last_inbound_at")
        token = data.get("context_token")
        return cls(get_updates_buf=str(data.get("get_updates_buf") or ""),
                   context_token=str(token) if token else None,
                   last_inbound_at=float(at) if isinstance(at, int | float) else None,
                   spent=int(data.get("spent") or 0))

    def inbound(self, context_token: str | None, at: float) -> Cursor:
        """After a message from the person: a new token, a fresh count."""
        return replace(self, context_token=context_token or self.context_token, last_inbound_at=at, spent=0)


class CredentialStore:
    """The directory of bound people. Nothing here logs or returns a token in a sentence."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, credentials: Credentials) -> None:
        self._write(self._path(credentials.name, _CREDENTIALS_SUFFIX), credentials.to_json())

    def load(self, name: str) -> Credentials | None:
        data = self._read(self._path(name, _CREDENTIALS_SUFFIX))
        return None if data is None else Credentials.from_json(data)

    def names(self) -> list[str]:
        """Every bound person, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name[: -len(_CREDENTIALS_SUFFIX)] for p in self.directory.iterdir()
                      if p.name.endswith(_CREDENTIALS_SUFFIX) and not p.name.endswith(_CURSOR_SUFFIX)
                      and NAME_PATTERN.fullmatch(p.name[: -len(_CREDENTIALS_SUFFIX)]))

    def all(self) -> list[Credentials]:
        return [c for c in (self.load(n) for n in self.names()) if c is not None]

    def local_tokens(self) -> list[str]:
        """The tokens a new login sends as `local_token_list`: newest binding first, at most 10
        (`getLocalBotTokenList` in login-qr.ts), so the server can say `binded_redirect`."""
        return [c.token for c in sorted(self.all(), key=lambda c: c.bound_at, reverse=True)][:10]

    def forget(self, name: str) -> bool:
        """Remove a person's credentials and cursor; False when they were not bound."""
        found = False
        for suffix in (_CREDENTIALS_SUFFIX, _CURSOR_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                self._path(name, suffix).unlink()
                found = found or suffix == _CREDENTIALS_SUFFIX
        return found

    def load_cursor(self, name: str) -> Cursor:
        data = self._read(self._path(name, _CURSOR_SUFFIX))
        return Cursor() if data is None else Cursor.from_json(data)

    def save_cursor(self, name: str, cursor: Cursor) -> None:
        self._write(self._path(name, _CURSOR_SUFFIX), cursor.to_json())

    def update_cursor(self, name: str, **changes: Any) -> Cursor:
        """Read, change and write the cursor in one synchronous step, so the poller (the buf, the
        token) and the sender (`spent`) never write back each other's stale fields."""
        cursor = replace(self.load_cursor(name), **changes)
        self.save_cursor(name, cursor)
        return cursor

    def _path(self, name: str, suffix: str) -> Path:
        return self.directory / f"{check_name(name)}{suffix}"

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):  # left by a crash: its mode is not to be trusted
            tmp.unlink()
        # Created 0600 from the first byte: a token is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(data))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        # The rename itself is on disk only once the directory is.
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

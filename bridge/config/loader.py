"""Loading a config: the main file, its includes, environment overrides, with every problem located.

`load_config` reads everything it can even when something is broken, so one run of `check`
lists every problem (file, key path, line) instead of the first.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError

from bridge.config.models import ENV_ENDPOINT, ENV_TOKEN, Config, MappingFile
from bridge.config.rooms import ContactSettings, RoomSettings
from bridge.config.routes import RouteSettings
from bridge.config.yaml_source import YamlDocument, read_yaml
from bridge.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=MappingFile)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read the main file and its includes; raise `ConfigError` listing every problem found."""
    env = os.environ if environ is None else environ
    main_path = Path(path)
    main_doc = read_yaml(main_path, env)
    problems = list(main_doc.problems)
    config = _validate(Config, main_doc, problems)
    # Included files are read even when the main file is broken, so one run shows every problem.
    includes = config.include if config is not None else _raw_includes(main_doc.value)

    rooms = dict(config.rooms) if config is not None else _rooms_alone(main_doc.value)
    routes = list(config.routes) if config is not None else []
    contacts = dict(config.contacts) if config is not None else {}
    _read_includes(main_doc, includes, env, rooms=rooms, contacts=contacts, routes=routes, problems=problems)
    for route in routes:
        for index, key in enumerate(route.rooms):
            if key not in rooms:
                known = ", ".join(sorted(rooms)) or "none are defined"
                problems.append(route.problem(("rooms", index), f"unknown room key {key!r} (known: {known})"))
        for index, key in enumerate(route.mention):
            if key not in contacts:
                known = ", ".join(sorted(contacts)) or "none are defined under 'contacts'"
                problems.append(route.problem(("mention", index), f"unknown contact key {key!r} (known: {known})"))
    if config is None:
        raise ConfigError(problems or [ConfigProblem(str(main_path), "", "cannot be used")])
    config = config.model_copy(update={"rooms": rooms, "routes": routes, "contacts": contacts,
                                       "include": config.include})

    wechaty = config.wechaty
    endpoint = env.get(ENV_ENDPOINT) or wechaty.endpoint
    token = env.get(ENV_TOKEN)
    wechaty = wechaty.model_copy(
        update={"endpoint": endpoint, "token": SecretStr(token) if token else wechaty.token}
    )
    missing = wechaty.token is None or not wechaty.token.get_secret_value()
    # `token: ${WECHATY_TOKEN}` with the variable unset has already been reported: one cause, one line.
    # Only group chats need the gateway, and so its token: the official bot's rooms do not.
    if missing and config.uses_gateway and not any(p.file == main_doc.file and p.path == "wechaty.token"
                                                   for p in problems):
        problems.append(main_doc.problem(
            ("wechaty", "token"), f"the gateway token is missing: set wechaty.token or {ENV_TOKEN}"
        ))
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update={"wechaty": wechaty})


def _included_files(main_doc: YamlDocument, includes: list[str], problems: list[ConfigProblem]) -> list[Path]:
    files: list[Path] = []
    for index, pattern in enumerate(includes):
        if not pattern.strip():
            problems.append(main_doc.problem(("include", index), "an include pattern cannot be empty"))
            continue
        matched = sorted(f for f in glob.glob(str(Path(main_doc.file).parent / pattern)) if os.path.isfile(f))
        if not matched and not glob.has_magic(pattern):
            problems.append(main_doc.problem(("include", index), f"included file {pattern!r} not found"))
        files.extend(Path(f) for f in matched)
    return files


def _read_includes(main_doc: YamlDocument, includes: list[str], env: Mapping[str, str], *,
                   rooms: dict[str, RoomSettings], contacts: dict[str, ContactSettings],
                   routes: list[RouteSettings], problems: list[ConfigProblem]) -> None:
    """Add the rooms, contacts and routes of every included file; a key defined twice is a problem."""
    origin = {("rooms", key): main_doc.file for key in rooms} | {("contacts", key): main_doc.file for key in contacts}
    for file in _included_files(main_doc, includes, problems):
        doc = read_yaml(file, env)
        problems.extend(doc.problems)
        fragment = _validate(MappingFile, doc, problems)
        if fragment is None:
            continue
        for section, mine, theirs in (("rooms", rooms, fragment.rooms), ("contacts", contacts, fragment.contacts)):
            for key, value in theirs.items():
                if key in mine:
                    problems.append(doc.problem((section, key), f"{section[:-1]} key {key!r} is also defined in "
                                                                f"{origin[section, key]}"))
                    continue
                mine[key] = value  # type: ignore[assignment]
                origin[section, key] = doc.file
        routes.extend(fragment.routes)


def _validate(model: type[M], doc: YamlDocument, problems: list[ConfigProblem]) -> M | None:
    if doc.value is None:
        return None
    if not isinstance(doc.value, dict):
        problems.append(doc.problem((), f"the file must hold a mapping of keys, not {_kind(doc.value)}"))
        return None
    try:
        result = model.model_validate(doc.value, context={"base_dir": str(Path(doc.file).parent)})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            problems.append(doc.problem(loc, _message(error)))
        return None
    for index, route in enumerate(result.routes):
        route._origin = (doc, ("routes", index))
    return result


def _rooms_alone(value: Any) -> dict[str, RoomSettings]:
    """The main file's rooms when the rest of it is broken, to check routes against them."""
    try:
        return MappingFile.model_validate({"rooms": value.get("rooms") or {}}).rooms
    except (ValidationError, AttributeError):
        return {}


def _raw_includes(value: Any) -> list[str]:
    raw = value.get("include") if isinstance(value, dict) else None
    return [p for p in raw if isinstance(p, str)] if isinstance(raw, list) else []


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; see the README's config reference)"
    if kind == "missing":
        return "this key is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )

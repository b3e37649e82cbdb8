"""Command line: `run`, `check`, `render`, `health`, `doctor` and `ilink`. The only place that decides exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from bridge import __version__
from bridge.config.loader import load_config
from bridge.config.models import Config
from bridge.errors import ConfigError, ConfigProblem, FallbackError, OutboxError, StartupError
from bridge.fallback.rules import secret_parts
from bridge.pipeline.runtime import Runtime

EXIT_OK = 0
EXIT_CONFIG = 1
#: `health`: what Docker's HEALTHCHECK reads as unhealthy.
EXIT_UNHEALTHY = 1
#: `doctor`: a link of the chain does not hold.
EXIT_LINK_BROKEN = 1
EXIT_USAGE = 2
EXIT_OUTBOX = 3


class RedactingFilter(logging.Filter):
    """Replaces secrets in every log line, including those of libraries (grpc), before it is written."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def _setup_logging(config: Config) -> None:
    level = getattr(logging, config.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    secrets = [
        config.mqtt.password.get_secret_value() if config.mqtt.password else "",
        config.wechaty.token.get_secret_value() if config.wechaty.token else "",
        config.http.token.get_secret_value() if config.http.token else "",
        config.http.metrics_token.get_secret_value() if config.http.metrics_token else "",
        # Apprise logs the services it talks to: the parts of the fallback URLs that may be secret.
        *(part for url in config.fallback.urls for part in secret_parts(url.get_secret_value())),
    ]
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # grpc's Python loggers reach the same handler (and its redaction); at DEBUG they only add
    # the library's internals, not the bridge's diagnosis.
    logging.getLogger("grpc").setLevel(logging.INFO)


_FallbackCheck = Literal["here", "apart", "skip"]
#: Where each command checks the fallback's URLs (`_check_fallback`); the others check them here.
_FALLBACK_CHECK: dict[str, _FallbackCheck] = {"run": "apart", "health": "skip"}


def _load(path: str, *, fallback: _FallbackCheck = "here") -> Config:
    config = load_config(path)
    Runtime.compile(config)  # template syntax errors (templates, `when`, throttle keys) are config errors too
    if fallback != "skip":
        _check_fallback(config, path, apart=fallback == "apart")
    return config


def _check_fallback(config: Config, path: str, *, apart: bool) -> None:
    """Every fallback URL through Apprise's own parser; Apprise itself, when one is configured.

    `apart`: in a child process, so that a running bridge loads Apprise only when a fallback send is due.
    """
    if not config.fallback.enabled:
        return
    from bridge.fallback.apprise import check, check_apart

    try:
        problem, problems = (check_apart if apart else check)([url.get_secret_value() for url in config.fallback.urls])
    except FallbackError as exc:
        raise ConfigError([ConfigProblem(path, "fallback.urls", str(exc))]) from None
    if problem is not None:
        raise ConfigError([ConfigProblem(path, "fallback.urls", problem)])
    if problems:
        raise ConfigError([ConfigProblem(path, f"fallback.urls[{index}]", text) for index, text in problems])


def _print_problems(error: ConfigError) -> None:
    print(f"configuration has {len(error.problems)} problem(s):", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)


def _render(config: Config, topic: str, payload: str, retained: bool, last: str | None) -> int:
    """Show what the bridge would send for one message, without a broker or WeChat."""
    from bridge.commands.render import render_lines

    for line in render_lines(Runtime.compile(config), topic=topic, payload=payload, retained=retained, last=last):
        print(line)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wechat-mqtt-bridge", description="MQTT to WeChat notification bridge")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bridge")
    run.add_argument("--config", "-c", required=True, help="YAML config file")
    check = commands.add_parser("check", help="validate a config and its included mapping files")
    check.add_argument("--config", "-c", required=True, help="YAML config file")
    render = commands.add_parser(
        "render", help="show which routes match a message and the exact text each room would get")
    render.add_argument("--config", "-c", required=True, help="YAML config file")
    render.add_argument("--topic", "-t", required=True, help="the MQTT topic of the message")
    render.add_argument("--payload", "-p", default="", help="the payload (text or JSON)")
    render.add_argument("--retained", action="store_true", help="treat it as a retained message")
    render.add_argument("--last", metavar="TEXT", default=None,
                        help="the `changed` value last seen for the event's key (default: none seen yet)")
    health = commands.add_parser(
        "health", help="ask the running bridge over MQTT whether it is healthy: exit 0 if so, 1 if not")
    health.add_argument("--config", "-c", required=True, help="YAML config file (for the broker and base topic)")
    health.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    doctor = commands.add_parser(
        "doctor", help="check config, broker, gateway, token, login and rooms link by link: exit 0 if all hold")
    doctor.add_argument("--config", "-c", required=True, help="YAML config file")
    ilink = commands.add_parser("ilink", help="bind people to the official WeChat bot (ClawBot)")
    people = ilink.add_subparsers(dest="action", required=True)
    for action, text in (("login", "bind a person: print a QR code to scan with their WeChat"),
                         ("list", "who is bound, and what their bot may send now"),
                         ("logout", "forget a person's binding")):
        sub = people.add_parser(action, help=text)
        sub.add_argument("--config", "-c", required=True, help="YAML config file")
        if action != "list":
            sub.add_argument("--name", "-n", required=True, help="the person, as rooms name them (`ilink: NAME`)")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return _doctor(args.config)

    try:
        # `run` checks the fallback's URLs apart (Apprise stays out of the running bridge until needed);
        # `health`, every minute in a container, does not check them at all: it only asks the bridge.
        config = _load(args.config, fallback=_FALLBACK_CHECK.get(args.command, "here"))
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    commands_after_load: dict[str, Callable[[], int]] = {
        "check": lambda: _check(config, args.config),
        "ilink": lambda: _ilink(config, args.config, args.action, getattr(args, "name", None)),
        "render": lambda: _render(config, args.topic, args.payload, args.retained, args.last),
        "health": lambda: _health(config, args.timeout),
        "run": lambda: _run(config, Path(args.config)),
    }
    return commands_after_load[args.command]()


def _check(config: Config, path: str) -> int:
    if config.ilink_people:
        from bridge.commands.ilink import unbound

        missing = unbound(config)
        for name in missing:
            rooms = ", ".join(key for key, room in config.rooms.items() if room.ilink == name)
            print(f"{path}: rooms.{rooms}: nobody is bound as {name!r} to the official bot; bind them first: "
                  f"wechat-mqtt-bridge ilink login --config {path} --name {name}", file=sys.stderr)
        if missing:
            return EXIT_CONFIG
    from bridge.wechat.capabilities import capability_warnings

    for warning in capability_warnings(config):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(f"{path}: OK ({config.size})")
    return EXIT_OK


def _ilink(config: Config, path: str, action: str, name: str | None) -> int:
    from bridge.commands import ilink
    from bridge.wechat.ilink.errors import LoginFailed

    if action == "list":
        lines = ilink.listing(config, time.time(), path)
        print("\n".join(lines) if lines else "nobody is bound to the official bot yet")
        return EXIT_OK
    assert name is not None
    try:
        if action == "logout":
            forgot = ilink.logout(config, name)
            print(f"forgot {name}: a running bridge stops writing to them within seconds" if forgot
                  else f"nobody is bound as {name!r}", file=sys.stdout if forgot else sys.stderr)
            return EXIT_OK if forgot else EXIT_CONFIG
        return EXIT_OK if asyncio.run(ilink.login(config, name)) else EXIT_CONFIG
    except ValueError as exc:  # a name that cannot be one
        print(f"wechat-mqtt-bridge ilink: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LoginFailed as exc:
        print(f"wechat-mqtt-bridge ilink login: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_USAGE


def _health(config: Config, timeout: float) -> int:
    from bridge.commands.health import check_health

    healthy, line = asyncio.run(check_health(config, wait_seconds=timeout))
    print(line)
    return EXIT_OK if healthy else EXIT_UNHEALTHY


def _run(config: Config, path: Path) -> int:
    _setup_logging(config)
    from bridge.app import run_until_signalled  # imports grpc and every stage: only when running

    try:
        asyncio.run(run_until_signalled(config, path))
    except (StartupError, OutboxError, ExceptionGroup) as exc:
        found = _first(exc, StartupError) or _first(exc, OutboxError)
        if found is None:
            raise
        print(f"wechat-mqtt-bridge: cannot start: {found}" if isinstance(found, StartupError)
              else f"wechat-mqtt-bridge: {found}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(found, StartupError) else EXIT_OUTBOX
    return EXIT_OK


def _doctor(path: str) -> int:
    from bridge.commands.doctor import diagnose

    try:
        config = _load(path)
    except ConfigError as exc:
        print(f"✗ config: {path} has {len(exc.problems)} problem(s). Fix: correct them (`check` lists the same):")
        for problem in exc.problems:
            print(f"    {problem}")
        return EXIT_CONFIG
    findings = asyncio.run(diagnose(config, path))
    for finding in findings:
        print(finding.line())
        if finding.extra:
            print(finding.extra, end="")
    return EXIT_OK if all(finding.ok for finding in findings) else EXIT_LINK_BROKEN


def _first(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first `kind` in `exc`, looking inside (nested) exception groups."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first(inner, kind)
            if found is not None:
                return found
    return None

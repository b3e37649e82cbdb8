"""Command line: `run` and `check`. The only place that decides exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable, Sequence

from bridge import __version__
from bridge.config import Config, load_config
from bridge.errors import ConfigError, OutboxError
from bridge.routing import compile_routes
from bridge.templates import TemplateEngine

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_USAGE = 2
EXIT_OUTBOX = 3


class RedactingFilter(logging.Filter):
    """Replaces secrets in every log line, including the wechaty SDK's, before it is written."""

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
    from bridge.wechaty_compat import adopt_sdk_loggers

    level = getattr(logging, config.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    secrets = [
        config.mqtt.password.get_secret_value() if config.mqtt.password else "",
        config.wechaty.token.get_secret_value() if config.wechaty.token else "",
    ]
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    adopt_sdk_loggers(debug=level <= logging.DEBUG)
    # HTTP/2 frame codecs under the gRPC client log every header at DEBUG: noise, not diagnosis.
    for name in ("hpack", "h2"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _load(path: str) -> Config:
    config = load_config(path)
    compile_routes(config, TemplateEngine())  # template syntax errors are config errors too
    return config


def _print_problems(error: ConfigError) -> None:
    print(f"configuration has {len(error.problems)} problem(s):", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wechat-mqtt-bridge", description="MQTT to WeChat notification bridge")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bridge")
    run.add_argument("--config", "-c", required=True, help="YAML config file")
    check = commands.add_parser("check", help="validate a config and its included mapping files")
    check.add_argument("--config", "-c", required=True, help="YAML config file")
    args = parser.parse_args(argv)

    try:
        config = _load(args.config)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    if args.command == "check":
        print(f"{args.config}: OK ({len(config.routes)} routes, {len(config.rooms)} rooms)")
        return EXIT_OK

    _setup_logging(config)
    from bridge.app import run_until_signalled  # imports the wechaty SDK, slow: only when running

    try:
        asyncio.run(run_until_signalled(config))
    except (OutboxError, ExceptionGroup) as exc:
        found = _first(exc, OutboxError)
        if found is None:
            raise
        print(f"wechat-mqtt-bridge: {found}", file=sys.stderr)
        return EXIT_OUTBOX
    return EXIT_OK


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

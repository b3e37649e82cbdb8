"""Sandboxed Jinja2: templates and `when` expressions compiled once at start-up (pure).

Only config files hold templates. Payloads are data put into the context, never rendered, so a
payload that looks like `{{ 7*7 }}` arrives literally.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from bridge.errors import TemplateError
from bridge.filters import FILTERS

#: Longest text a template may produce; WeChat itself refuses much longer messages.
MAX_RENDERED_CHARS = 20_000


def _now() -> datetime:
    """Local time, timezone-aware, so `now().strftime('%H:%M')` shows the clock on the wall."""
    return datetime.now().astimezone()


class TemplateEngine:
    """One sandboxed environment shared by every route; rendering never raises anything but ours."""

    def __init__(self) -> None:
        self._env = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self._env.globals["now"] = _now
        self._env.filters.update(FILTERS)

    def check_template(self, source: str) -> str | None:
        """The syntax error in `source`, or None; for config checks."""
        try:
            self._env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            return f"template syntax error on its line {exc.lineno}: {exc.message}"
        return None

    def check_expression(self, source: str) -> str | None:
        try:
            self._env.compile_expression(source)
        except jinja2.TemplateSyntaxError as exc:
            return f"expression syntax error: {exc.message}"
        return None

    def compile(self, source: str) -> CompiledTemplate:
        return CompiledTemplate(self._env.from_string(source))

    def compile_expression(self, source: str) -> CompiledExpression:
        return CompiledExpression(source, self._env.compile_expression(source, undefined_to_none=False))


class CompiledTemplate:
    def __init__(self, template: jinja2.Template) -> None:
        self._template = template

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            text = self._template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"the template uses a value the payload does not have: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the template failed: {exc.message or type(exc).__name__}") from None
        except Exception as exc:  # arithmetic on the wrong type, and the like, from payload data
            raise TemplateError(f"the template failed on this payload: {type(exc).__name__}: {exc}") from None
        if len(text) > MAX_RENDERED_CHARS:
            raise TemplateError(f"the template produced {len(text)} characters, more than {MAX_RENDERED_CHARS}")
        if not text.strip():
            raise TemplateError("the template produced an empty message")
        return text


class CompiledExpression:
    def __init__(self, source: str, expression: Any) -> None:
        self.source = source
        self._expression = expression

    def holds(self, context: Mapping[str, Any]) -> bool:
        try:
            return bool(self._expression(**context))
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"the 'when' condition uses a value the payload does not have: {exc.message}") from None
        except Exception as exc:
            raise TemplateError(f"the 'when' condition failed on this payload: {type(exc).__name__}: {exc}") from None

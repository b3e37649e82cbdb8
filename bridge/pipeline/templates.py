"""Sandboxed Jinja2: templates and `when` expressions compiled once at start-up (pure).

Only config files hold templates. Payloads are data put into the context, never rendered, so a
payload that looks like `{{ 7*7 }}` arrives literally.

Jinja's sandbox stops attribute tricks (`__class__`, `__globals__`) but not resource abuse,
and payload values can reach a template's arithmetic (`'x' * payload.n`). So, beyond the
sandbox: names starting with `_` are refused when the config is read; `*`, `**` and `%` refuse
results larger than the message cap; width arguments of formatting filters are capped; every
`for` loop and `range` draws on one iteration budget per render; and the output is capped.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from bridge.errors import TemplateError, TemplateLimitError
from bridge.i18n import ENGLISH, Texts
from bridge.pipeline.filters import filters_for

#: Longest text a template may produce; WeChat itself refuses much longer messages.
MAX_RENDERED_CHARS = 20_000
#: Loop iterations (all `for` loops and `range` calls together) one render may take.
MAX_ITERATIONS = 100_000
#: Largest result of `**`, in bits: plenty for arithmetic, far from a memory bomb.
MAX_POWER_BITS = 4096
#: Widths and precisions in format specs (`%10s`, `{:>10}`) and filter width arguments.
MAX_WIDTH = 1_000

_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_iteration_budget")
_DYNAMIC_WIDTH = re.compile(r"%[-+ #0]*\*|%[-+ #0]*\d*\.\*|\{[^{}]*:[^{}]*\{")
_FORMAT_WIDTH = re.compile(r"%[-+ #0]*(\d+)?(?:\.(\d+))?|\{[^{}]*?:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


def _now() -> datetime:
    """Local time, timezone-aware, so `now().strftime('%H:%M')` shows the clock on the wall."""
    return datetime.now().astimezone()


def _spend(count: int = 1) -> None:
    budget = _budget.get(None)
    if budget is None:
        return
    budget[0] -= count
    if budget[0] < 0:
        raise TemplateLimitError(f"the template ran more than {MAX_ITERATIONS} loop iterations")


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _spend()
        yield item


def _bounded_range(*args: int) -> range:
    """`range` refusing more numbers than the budget; iterating it in a loop spends the budget."""
    numbers = range(*args)
    if len(numbers) > MAX_ITERATIONS:
        raise TemplateLimitError(f"range() of {len(numbers)} numbers is more than {MAX_ITERATIONS}")
    return numbers


def _check_widths(spec: str) -> None:
    if _DYNAMIC_WIDTH.search(spec):
        raise TemplateLimitError("a width or precision taken from an argument ('*' or a nested {}) is not allowed")
    for match in _FORMAT_WIDTH.finditer(spec):
        for number in match.groups():
            if number is not None and int(number) > MAX_WIDTH:
                raise TemplateLimitError(f"a format width or precision above {MAX_WIDTH} is not allowed")


def _capped_filter(original: Callable[..., Any], *, width_args: tuple[int, ...]) -> Callable[..., Any]:
    """A filter whose numeric width arguments (by position after the value) are capped."""
    def wrapped(value: Any, *args: Any, **kwargs: Any) -> Any:
        for index in width_args:
            if index < len(args) and isinstance(args[index], int) and args[index] > MAX_WIDTH:
                raise TemplateLimitError(f"a width above {MAX_WIDTH} is not allowed")
        for number in kwargs.values():
            if isinstance(number, int) and not isinstance(number, bool) and number > MAX_WIDTH:
                raise TemplateLimitError(f"a width above {MAX_WIDTH} is not allowed")
        if original.__name__ == "do_format" and isinstance(value, str):
            _check_widths(value)
        return original(value, *args, **kwargs)

    wrapped.__name__ = original.__name__
    return wrapped


class _LimitedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                repeats = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if repeats and len(seq) * times > MAX_RENDERED_CHARS:
                    raise TemplateLimitError(f"repeating a value {times} times would exceed {MAX_RENDERED_CHARS}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and right * abs(left).bit_length() > MAX_POWER_BITS:
                raise TemplateLimitError(f"{left} ** {right} is too large a number")
        elif operator == "%" and isinstance(left, str):
            _check_widths(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:  # `value` is a bound str.format or str.format_map
            _check_widths(value.__self__)
        return wrapper


def _forbidden_names(tree: nodes.Node) -> list[str]:
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            # `payload['_type']` reads a key of the payload (OwnTracks, Frigate put such keys in their
            # JSON); the sandbox answers a missing key with an attribute only when the attribute is
            # safe, so only a dunder (`['__class__']`) is refused here, for a clearer sentence.
            key = node.arg.value
            name = key if isinstance(key, str) and key.startswith("__") else None
        elif isinstance(node, nodes.Name):
            name = node.name
        if name is not None and name.startswith("_"):
            found.append(name)
    return found


def _with_loop_budget(tree: nodes.Template) -> nodes.Template:
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name("_counted", "load"), [loop.iter], [], None, None, lineno=loop.lineno)
    return tree


class TemplateEngine:
    """One sandboxed environment shared by every route; rendering never raises anything but ours."""

    def __init__(self, texts: Texts = ENGLISH) -> None:
        self._env = _LimitedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
        self._env.globals.update({"now": _now, "range": _bounded_range, "_counted": _counted})
        self._env.filters.update(filters_for(texts))  # `duration` and `localtime` in the config's locale
        for name, width_args in (("center", (0,)), ("indent", (0,)), ("wordwrap", (0,)),
                                 ("truncate", (0,)), ("format", ())):
            self._env.filters[name] = _capped_filter(self._env.filters[name], width_args=width_args)

    def check_template(self, source: str) -> str | None:
        """What is wrong with `source` as a template, or None; for config checks."""
        try:
            tree = self._env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            return f"template syntax error on its line {exc.lineno}: {exc.message}"
        return _forbidden_message(tree)

    def check_expression(self, source: str) -> str | None:
        try:
            tree = self._env.parse(f"{{{{ {source} }}}}")
            self._env.compile_expression(source)
        except jinja2.TemplateSyntaxError as exc:
            return f"expression syntax error: {exc.message}"
        return _forbidden_message(tree)

    def compile(self, source: str) -> CompiledTemplate:
        return CompiledTemplate(self._env.from_string(_with_loop_budget(self._env.parse(source))))

    def compile_expression(self, source: str) -> CompiledExpression:
        return CompiledExpression(source, self._env.compile_expression(source, undefined_to_none=False))


def _forbidden_message(tree: nodes.Template) -> str | None:
    names = _forbidden_names(tree)
    if names:
        return f"templates may not use names starting with '_' (found {names[0]!r}): they reach Python internals"
    return None


def _guarded(run: Callable[[], Any], what: str) -> Any:
    token = _budget.set([MAX_ITERATIONS])
    try:
        return run()
    except TemplateLimitError as exc:
        raise TemplateError(f"{what} failed: {exc}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{what} uses a value the payload does not have: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"{what} tried something the sandbox forbids: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{what} failed: {exc.message or type(exc).__name__}") from None
    except RecursionError:
        raise TemplateError(f"{what} failed: it recursed too deeply") from None
    except Exception as exc:  # arithmetic on the wrong type, and the like, from payload data
        raise TemplateError(f"{what} failed on this payload: {type(exc).__name__}: {exc}") from None
    finally:
        _budget.reset(token)


class CompiledTemplate:
    def __init__(self, template: jinja2.Template) -> None:
        self._template = template
        # `Template.render` copies the globals out of a ChainMap on every call, a quarter of a
        # short template's render time; they are fixed once compiled, so copy them once.
        self._globals = dict(template.globals)

    def _render(self, context: Mapping[str, Any]) -> str:
        template = self._template
        env = template.environment
        try:
            return str(env.concat(template.root_render_func(
                template.new_context({**self._globals, **context}, shared=True))))
        except Exception:
            env.handle_exception()  # what `Template.render` does: Jinja's own error types and traceback

    def render(self, context: Mapping[str, Any], *, what: str = "the template", allow_empty: bool = False) -> str:
        """`allow_empty`: for values that are not messages (a `changed` value may well be empty)."""
        text: str = _guarded(lambda: self._render(context), what)
        if len(text) > MAX_RENDERED_CHARS:
            raise TemplateError(f"{what} produced {len(text)} characters, more than {MAX_RENDERED_CHARS}")
        if not text.strip() and not allow_empty:
            raise TemplateError(f"{what} produced an empty message")
        return text


class CompiledExpression:
    def __init__(self, source: str, expression: Any) -> None:
        self.source = source
        self._expression = expression

    def holds(self, context: Mapping[str, Any]) -> bool:
        return bool(_guarded(lambda: self._expression(**context), "the 'when' condition"))

    def evaluate(self, context: Mapping[str, Any], *, what: str) -> Any:
        """The expression's value as it is (a bool, a number, a string...), not made text."""
        def run() -> Any:
            value = self._expression(**context)
            if isinstance(value, jinja2.Undefined):
                str(value)  # a missing value raises here, inside the guard (StrictUndefined)
            return value
        return _guarded(run, what)

"""The sandbox and its limits: what a template may do, and the sentence a user gets when it may not."""

import pytest

from bridge.errors import TemplateError
from bridge.pipeline.templates import TemplateEngine

engine = TemplateEngine()


def render(source: str, **context: object) -> str:
    return engine.compile(source).render(context)


@pytest.mark.parametrize(
    "source",
    ["{{ ''.__class__.__mro__ }}", "{{ payload['__globals__'] }}", "{{ lipsum.__globals__ }}",
     "{{ cycler.__init__.__globals__.os }}", "{% set x = _private %}{{ x }}"],
)
def test_internals_are_refused_when_the_config_is_read(source: str) -> None:
    message = engine.check_template(source)
    assert message is not None and message.startswith("templates may not use names starting with '_'")
    assert engine.check_expression(source.strip("{} ")) is not None or "set" in source


@pytest.mark.parametrize(
    ("source", "context", "error"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", {},
         "the template failed: range() of 1000000000 numbers is more than 100000"),
        ("{{ 'x' * payload.n }}", {"payload": {"n": 10**9}},
         "the template failed: repeating a value 1000000000 times would exceed 20000"),
        ("{{ 7 ** payload }}", {"payload": 100000}, "the template failed: 7 ** 100000 is too large a number"),
        ("{% for a in payload %}{% for b in payload %}{% endfor %}{% endfor %}x", {"payload": list(range(1000))},
         "the template failed: the template ran more than 100000 loop iterations"),
        ("{{ '%999999999s' % 1 }}", {}, "the template failed: a format width or precision above 1000 is not allowed"),
        ("{{ '{:>999999999}'.format(1) }}", {},
         "the template failed: a format width or precision above 1000 is not allowed"),
        ("{{ '{0:>{1}}'.format(1, payload) }}", {"payload": 10**9},
         "the template failed: a width or precision taken from an argument ('*' or a nested {}) is not allowed"),
        ("{{ 'a' | center(payload) }}", {"payload": 10**9}, "the template failed: a width above 1000 is not allowed"),
        ("{{ '%99999999s' | format(1) }}", {},
         "the template failed: a format width or precision above 1000 is not allowed"),
        ("{{ payload.text * 2 }}", {"payload": {"text": "x" * 15000}},
         "the template failed: repeating a value 2 times would exceed 20000"),
        ("{{ payload.text }}{{ payload.text }}", {"payload": {"text": "x" * 15000}},
         "the template produced 30000 characters, more than 20000"),
        ("{{ payload.a / payload.b }}", {"payload": {"a": 1, "b": 0}},
         "the template failed on this payload: ZeroDivisionError: division by zero"),
        ("{{ payload.state }}", {"payload": [1, 2]},
         "the template uses a value the payload does not have: 'list object' has no attribute 'state'"),
        ("  ", {}, "the template produced an empty message"),
    ],
)
def test_render_time_limits_end_in_a_clear_template_error(source: str, context: dict[str, object], error: str) -> None:
    assert engine.check_template(source) is None
    with pytest.raises(TemplateError) as info:
        render(source, **context)
    assert str(info.value) == error


def test_ordinary_templates_still_work() -> None:
    source = "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '%.1f' % 3.14159 }} {{ '{:>4}'.format(7) }}"
    assert render(source) == "ababab 1024 3.1    7"
    assert render("{{ payload.missing | default('n/a') }}", payload={}) == "n/a"
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}") == "012"
    assert render("{{ payload }}", payload="{{ 7*7 }}") == "{{ 7*7 }}"


def test_the_iteration_budget_is_per_render() -> None:
    template = engine.compile("{% for i in range(60000) %}{% endfor %}ok")
    assert template.render({}) == "ok"
    assert template.render({}) == "ok"  # a second render starts with a full budget


def test_when_expressions_are_guarded_the_same_way() -> None:
    expression = engine.compile_expression("payload.n * 'x' == ''")
    with pytest.raises(TemplateError, match="the 'when' condition failed: repeating a value"):
        expression.holds({"payload": {"n": 10**9}})

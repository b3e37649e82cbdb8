"""Bad flood-control config (route `throttle`, `pacing`, `pacing.digest`) as `check` prints it.

Each test runs the `check` command in-process and compares its whole output: the problem count,
then each problem with file:line, key path and sentence. A bad value the check let through would
only show up later, as a bridge that drops, stalls or garbles messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import EXIT_CONFIG, main
from bridge.config.models import ENV_TOKEN

ROOMS = "rooms: {ops: {id: ops@chatroom}}\n"
NOT_A_DURATION = "is not a duration: write a number of seconds or e.g. '500ms', '2s', '10m', '1h', '7d'"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TOKEN, "t")


def check(tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, int, str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(ROOMS + body)
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    return path, code, out.out, out.err


def refused(path: Path, *problems: str) -> str:
    return f"configuration has {len(problems)} problem(s):\n" + "".join(f"  {path}:{p}\n" for p in problems)


def test_throttle_keys_with_a_syntax_error_or_a_private_name_are_located(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, code, out, err = check(tmp_path, """\
routes:
  - topic: plugs/+
    rooms: [ops]
    template: x
    throttle: {period: 5m, key: "{{ payload.device "}
  - topic: doors/+
    rooms: [ops]
    template: y
    throttle:
      period: 1m
      key: "{{ payload.__class__ }}"
""", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(
        path,
        "6: routes[0].throttle.key: template syntax error on its line 1: "
        "unexpected end of template, expected 'end of print statement'.",
        "12: routes[1].throttle.key: templates may not use names starting with '_' (found '__class__'): "
        "they reach Python internals",
    )


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("0", "Input should be greater than 0"),
        ("0s", "Input should be greater than 0"),
        ("-5", "Input should be greater than 0"),
        ("-5m", f"'-5m' {NOT_A_DURATION}"),
        ("5 parsecs", f"'5 parsecs' {NOT_A_DURATION}"),
        ("true", "a duration is a number of seconds or a string such as '2s', '10m', '1h', '7d'"),
        # YAML's infinity: "one event per key, ever" by accident, and 'infs' in every dropped report.
        (".inf", "Input should be a finite number"),
    ],
)
def test_a_bad_throttle_period_is_located(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], period: str, message: str) -> None:
    path, code, out, err = check(tmp_path, f"""\
routes:
  - topic: plugs/+
    rooms: [ops]
    template: x
    throttle:
      key: "{{{{ payload.device }}}}"
      period: {period}
""", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(path, f"8: routes[0].throttle.period: {message}")


def test_a_throttle_without_a_period_or_with_a_misspelt_key_is_located(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, code, out, err = check(tmp_path, """\
routes:
  - {topic: a/+, rooms: [ops], template: x, throttle: {key: "{{ topic }}"}}
  - {topic: b/+, rooms: [ops], template: x, throttle: {period: 1m, keys: "{{ topic }}"}}
  - {topic: c/+, rooms: [ops], template: x, throttle: {period: 1m, key: ""}}
  - {topic: d/+, rooms: [ops], template: x, throttle: 5m}
""", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(
        path,
        "3: routes[0].throttle.period: this key is required",
        "4: routes[1].throttle.keys: unknown key (check its spelling; see the README's config reference)",
        "5: routes[2].throttle.key: String should have at least 1 character",
        "6: routes[3].throttle: Input should be a valid dictionary or instance of ThrottleSettings",
    )


def test_every_bad_digest_setting_is_located_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, code, out, err = check(tmp_path, """\
pacing:
  digest:
    enabled: maybe
    threshold: 0
    max_items: 1
    header: 5
    item: "- {txt}"
    max_chars: 1000
""", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(
        path,
        "4: pacing.digest.enabled: Input should be a valid boolean, unable to interpret input",
        "5: pacing.digest.threshold: Input should be greater than or equal to 1",
        "6: pacing.digest.max_items: Input should be greater than or equal to 2",
        "7: pacing.digest.header: Input should be a valid string",
        "8: pacing.digest.item: the digest item must contain {text}, else the folded texts are lost",
        "9: pacing.digest.max_chars: unknown key (check its spelling; see the README's config reference)",
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("{threshold: -1}", "threshold: Input should be greater than or equal to 1"),
        ("{threshold: many}", "threshold: Input should be a valid integer, unable to parse string as an integer"),
        ("{max_items: 501}", "max_items: Input should be less than or equal to 500"),
        ("{max_items: 2.5}", "max_items: Input should be a valid integer, got a number with a fractional part"),
        # Jinja-style placeholders: refused, not sent as '{{ text }}' lines or a '{{ count }}' header.
        ('{item: "{{ text }}"}', "item: the digest item and header are not templates: write {count} and {text}, "
                                 "without Jinja's {{ }} or {% %}"),
        ('{item: "- {{text}}"}', "item: the digest item and header are not templates: write {count} and {text}, "
                                 "without Jinja's {{ }} or {% %}"),
        ('{header: "{{ count }} items"}', "header: the digest item and header are not templates: write {count} "
                                          "and {text}, without Jinja's {{ }} or {% %}"),
    ],
)
def test_a_bad_digest_value_is_located(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str) -> None:
    path, code, out, err = check(tmp_path, f"pacing:\n  digest: {setting}\n", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(path, f"3: pacing.digest.{message}")


def test_a_digest_that_is_not_a_mapping_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, code, out, err = check(tmp_path, "pacing:\n  digest: true\n", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(path, "3: pacing.digest: Input should be a valid dictionary or instance of DigestSettings")


def test_infinite_pacing_durations_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # min_gap or jitter of .inf would stall every send after the first, with nothing in the log.
    path, code, out, err = check(tmp_path, "pacing:\n  min_gap: .inf\n  jitter: .inf\n  period: -1s\n", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(
        path,
        "3: pacing.min_gap: Input should be a finite number",
        "4: pacing.jitter: Input should be a finite number",
        f"5: pacing.period: '-1s' {NOT_A_DURATION}",
    )


def test_edge_values_of_flood_control_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The bounds the README gives: threshold 1 or more, max_items 2..500, a throttle key without variables.
    path, code, out, err = check(tmp_path, """\
pacing:
  min_gap: 0
  jitter: 0
  digest: {threshold: 1, max_items: 500, header: "", item: "{text}"}
routes:
  - {topic: a/+, rooms: [ops], template: x, throttle: {period: 500ms, key: "all"}}
  - {topic: b/+, rooms: [ops], template: x, throttle: {period: 7d}}
""", capsys)
    assert (code, err) == (0, "")
    assert out == f"{path}: OK (2 routes, 1 room)\n"


def test_throttle_key_problems_are_listed_with_template_problems(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, code, out, err = check(tmp_path, """\
routes:
  - topic: plugs/+
    rooms: [ops]
    template: "{{ payload.device "
    throttle: {period: 5m, key: "{{ _x }}"}
""", capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert err == refused(
        path,
        "5: routes[0].template: template syntax error on its line 1: "
        "unexpected end of template, expected 'end of print statement'.",
        "6: routes[0].throttle.key: templates may not use names starting with '_' (found '_x'): "
        "they reach Python internals",
    )

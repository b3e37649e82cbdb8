"""`check` and `render` as a user runs them: output and exit code of `python -m bridge`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "WECHATY_PUPPET_SERVICE_TOKEN": "t"})


def write_config(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"include: ['{ROOT / 'mappings' / 'example.yaml'}']\n{body}")
    return path


def test_check_good_config(tmp_path: Path) -> None:
    result = cli("check", "--config", str(write_config(tmp_path)))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{tmp_path}/config.yaml: OK (3 routes, 2 rooms)\n"


def test_check_broken_config_lists_every_problem_without_a_traceback(tmp_path: Path) -> None:
    mapping = tmp_path / "mappings" / "broken.yaml"
    mapping.parent.mkdir()
    mapping.write_text("routes:\n  - topic: ok\n    rooms: [nowhere]\n    template: x\n")
    other = tmp_path / "mappings" / "other.yaml"
    other.write_text("routes:\n  - topic: 'a/#/b'\n    rooms: [family]\n    template: x\n")
    path = tmp_path / "config.yaml"
    path.write_text("mqtt:\n  port: 0\n  tempalte: 1\nrooms:\n  family: {topic: F}\ninclude: ['mappings/*.yaml']\n")
    result = cli("check", "--config", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "configuration has 4 problem(s):\n"
        f"  {path}:2: mqtt.port: Input should be greater than or equal to 1\n"
        f"  {path}:3: mqtt.tempalte: unknown key (check its spelling; see the README's config reference)\n"
        f"  {other}:2: routes[0].topic: '#' must be the last level of a topic filter: 'a/#/b'\n"
        f"  {mapping}:3: routes[0].rooms[0]: unknown room key 'nowhere' (known: family)\n"
    )


def test_check_reports_template_syntax_and_unparsable_yaml(tmp_path: Path) -> None:
    path = write_config(tmp_path, "routes:\n  - {topic: a, rooms: [ops], template: '{{ oops '}\n")
    result = cli("check", "--config", str(path))
    assert (result.returncode, result.stderr) == (1, (
        "configuration has 1 problem(s):\n"
        f"  {path}:3: routes[0].template: template syntax error on its line 1: "
        "unexpected end of template, expected 'end of print statement'.\n"))
    path.write_text("rooms: [unclosed\n")
    result = cli("check", "--config", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"configuration has 1 problem(s):\n  {path}:2: not valid YAML:")
    assert "Traceback" not in result.stderr


def test_render_shows_matching_routes_when_and_exact_texts(tmp_path: Path) -> None:
    path = str(write_config(tmp_path))
    result = cli("render", "--config", path, "--topic", "tele/plug1/SENSOR",
                 "--payload", '{"ENERGY": {"Today": 2.5, "Power": 40}}')
    assert (result.returncode, result.stdout) == (0, (
        "route 'energy' (tele/+/SENSOR) matches\n"
        "  -> ops (room topic 'Ops'):\n"
        "       ⚡ plug1: 2.5 kWh today, 40 W now\n"))
    closed = cli("render", "--config", path, "--topic", "home/front/door", "--payload", '{"state": "closed"}')
    assert closed.stdout == (
        "route 'door-opened' (home/{area}/door) matches\n"
        "  when \"payload.state == 'open'\": false: nothing is sent\n")


def test_render_shows_rejections_direct_sends_and_no_match(tmp_path: Path) -> None:
    path = str(write_config(tmp_path))
    assert cli("render", "-c", path, "-t", "tele/plug1/SENSOR", "-p", '{"POWER": "ON"}').stdout == (
        "route 'energy' (tele/+/SENSOR) matches\n"
        "  -> ops (room topic 'Ops'): rejected: route 'energy': the template uses a value the payload "
        "does not have: 'dict object' has no attribute 'ENERGY'\n")
    assert cli("render", "-c", path, "-t", "wechat/send/family", "-p", "hi").stdout == (
        "direct send to room key 'family'\n  -> family (room topic 'Happy Family'):\n       hi\n")
    assert cli("render", "-c", path, "-t", "wechat/send/nobody", "-p", "hi").stdout == (
        "direct send to room key 'nobody'\n"
        "  -> nobody: rejected: unknown room key 'nobody' (known: family, ops)\n")
    assert cli("render", "-c", path, "-t", "garden/rain", "-p", "1").stdout == "no route matches topic 'garden/rain'\n"


def test_render_on_a_broken_config_fails_like_check(tmp_path: Path) -> None:
    path = write_config(tmp_path, "routes:\n  - {topic: a, rooms: [nowhere], template: x}\n")
    result = cli("render", "-c", str(path), "-t", "a")
    assert result.returncode == 1
    assert "routes[0].rooms[0]: unknown room key 'nowhere' (known: family, ops)" in result.stderr


def test_run_on_a_broken_config_exits_1_with_the_problems_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("mqtt: {port: not-a-port}\nrooms: {a: {}}\n")
    result = cli("run", "--config", str(path))
    assert result.returncode == 1
    assert result.stderr == (
        "configuration has 2 problem(s):\n"
        f"  {path}:1: mqtt.port: Input should be a valid integer, unable to parse string as an integer\n"
        f"  {path}:2: rooms.a: give exactly one of 'topic' (a group's name), 'id' (a group's id) or 'ilink' "
        "(a person bound to the official bot)\n")


def test_check_names_each_wrong_fallback_url_by_place_and_scheme_only(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("# the family's phones\nntfy://ntfy.example.com/home-topic-x93k\nbogus://SecretBogus1@host\n")
    path = write_config(tmp_path, "fallback:\n  urls: ['mailto://', 'ntfy://user:TopSecret9@ntfy.example.com/t']\n"
                                  "  urls_file: urls.txt\n")
    result = cli("check", "--config", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "configuration has 2 problem(s):\n"
        f"  {path}: fallback.urls[0]: mailto://…: Apprise cannot use this URL: a part is missing or malformed "
        "(see that service's page in Apprise's documentation)\n"
        f"  {path}: fallback.urls[3]: bogus://…: Apprise has no service for the scheme 'bogus' "
        "(its list: https://github.com/caronc/apprise/wiki)\n")
    assert "TopSecret9" not in result.stderr and "SecretBogus1" not in result.stderr


def test_run_refuses_a_wrong_fallback_url_with_checks_words_though_it_checks_apart(tmp_path: Path) -> None:
    # `run` checks the URLs in a child process (Apprise stays out of the bridge until its first send).
    path = write_config(tmp_path, "fallback:\n  urls: ['ntfy://ntfy.example.com/t', 'bogus://SecretBogus1@host']\n")
    result = cli("run", "--config", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "configuration has 1 problem(s):\n"
        f"  {path}: fallback.urls[1]: bogus://…: Apprise has no service for the scheme 'bogus' "
        "(its list: https://github.com/caronc/apprise/wiki)\n")


def test_check_accepts_good_fallback_urls_and_an_always_route_needs_them(tmp_path: Path) -> None:
    good = write_config(tmp_path, "fallback:\n  urls: ['ntfy://ntfy.example.com/home', 'wecombot://693a91f6-7a0c-4bc4-97a0-0ec2f1fa5aaa']\n")
    assert cli("check", "--config", str(good)).returncode == 0
    route = ("rooms:\n  r: {topic: R}\nroutes:\n  - topic: a/b\n    rooms: [r]\n    template: x\n"
             "    fallback: always\n")
    path = tmp_path / "always.yaml"
    path.write_text(route)
    result = cli("check", "--config", str(path))
    assert result.returncode == 1
    assert "routes[0].fallback: 'always' sends through the fallback, and fallback.urls is empty" in result.stderr


def test_check_says_what_to_install_when_apprise_is_missing(tmp_path: Path) -> None:
    path = write_config(tmp_path, "fallback:\n  urls: ['ntfy://ntfy.example.com/home']\n")
    # `import apprise` fails as it would where the library is not installed.
    code = ("import sys; sys.modules['apprise'] = None; from bridge.cli import main; "
            "raise SystemExit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "check", "--config", str(path)], check=False,
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "WECHATY_PUPPET_SERVICE_TOKEN": "t"})
    assert result.returncode == 1
    assert result.stderr == (
        "configuration has 1 problem(s):\n"
        f"  {path}: fallback.urls: fallback.urls needs the Apprise library, which is not installed: "
        "pip install 'apprise>=2.2,<3' (the Docker image and scripts/setup.sh install it)\n")


def test_check_refuses_a_room_naming_a_person_nobody_bound_and_says_how_to_bind_them(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"outbox: {{path: {tmp_path / 'outbox.sqlite3'}}}\nrooms:\n  me: {{ilink: alice}}\n"
                    "routes:\n  - {topic: home/door, rooms: [me], template: door}\n")
    result = cli("check", "--config", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"{path}: rooms.me: nobody is bound as 'alice' to the official bot; bind them first: "
                             f"wechat-mqtt-bridge ilink login --config {path} --name alice\n")
    # Bound (as `ilink login` stores it), the same config passes, and needs no gateway token.
    from bridge.wechat.ilink.credentials import Credentials, CredentialStore

    CredentialStore(tmp_path / "ilink").save(Credentials(name="alice", token="t0k3n", base_url="https://x",
                                                         bot_id="b@im.bot", user_id="alice@im.wechat", bound_at=1.0))
    result = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(path)], check=False,
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{path}: OK (1 route, 1 room)\n", "")

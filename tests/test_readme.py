"""The READMEs' own examples work as written: a newcomer copies them first, in either language."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bridge.chat import IlinkState
from bridge.config.models import IlinkSettings
from bridge.http.prometheus import PrometheusMetrics
from bridge.i18n import texts_for
from bridge.reporting.payloads import ilink_body
from bridge.wechat.ilink.window import Gate, Remaining
from bridge.wechat.official import OfficialBot, why

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- checked by tests/test_readme.py: `wechat-mqtt-bridge check` must accept this config -->"
READMES = ["README.md", "README.zh-CN.md"]
#: What the example config of each README sends when the front door opens.
DOOR_TEXT = {"README.md": r"🚪 The front door was opened at \d\d:\d\d", "README.zh-CN.md": r"🚪 前门开了（\d\d:\d\d）"}


def marked_configs(readme: str) -> list[str]:
    text = (ROOT / readme).read_text()
    found = re.findall(re.escape(MARKER) + r"\n```yaml\n(.*?)\n```", text, re.DOTALL)
    assert found, f"{readme}: the example config for a real account is gone (or its marker moved)"
    return [config + "\n" for config in found]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "WECHATY_TOKEN": "a-random-gateway-token"}
    return subprocess.run([sys.executable, "-m", "bridge", *args], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)


@pytest.mark.parametrize("readme", READMES)
def test_check_accepts_every_marked_config(tmp_path: Path, readme: str) -> None:
    for index, config in enumerate(marked_configs(readme)):
        path = tmp_path / f"config-{index}.yaml"
        path.write_text(config)
        result = cli("check", "--config", str(path))
        assert (result.returncode, result.stderr, result.stdout) == (0, "", f"{path}: OK (2 routes, 2 rooms)\n")


@pytest.mark.parametrize("readme", READMES)
def test_the_real_account_example_renders_its_door_message(tmp_path: Path, readme: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(marked_configs(readme)[0])
    result = cli("render", "--config", str(path), "--topic", "home/front/door", "--payload", '{"state": "open"}')
    assert result.returncode == 0, result.stderr
    room = {"README.md": "Happy Family", "README.zh-CN.md": "幸福一家人🏠"}[readme]
    assert re.search(rf"-> family \(room topic '{room}'\):\n +{DOOR_TEXT[readme]}\n", result.stdout), result.stdout


def test_each_readme_links_the_other_and_says_which_is_authoritative() -> None:
    english, chinese = ((ROOT / name).read_text() for name in READMES)
    assert "(README.zh-CN.md)" in english.split("\n## ", 1)[0]
    assert "This English README is the authoritative one" in english.split("\n## ", 1)[0]
    assert "(README.md)" in chinese.split("\n## ", 1)[0] and "以英文 README.md 为准" in chinese.split("\n## ", 1)[0]


#: The sections README.zh-CN.md covers (issue 19, and issue 16's fallback), by the English heading they render.
SECTIONS = {"Quick start": "快速上手",
            # the two ways into WeChat: the official bot first, then group chats (issue 24)
            "Getting WeChat online": "接入微信", "Group chats through a gateway": "群聊走网关",
            "When WeChat is away": "微信不在线的时候",
            "Configuration": "配置", "Home Assistant": "Home Assistant", "Docker": "Docker", "Securing it": "保护好它",
            # the App and the images' sizes (issue 26)
            "Home Assistant App": "Home Assistant App",
            # the status page and /metrics (issue 18), and routes with state (issue 17), in Chinese too (issue 19)
            "Status page": "状态页", "Metrics": "Prometheus 指标", "State, time and quiet hours": "状态、时长与免打扰",
            # what the bridge costs a small machine (issue 28)
            "Performance": "资源占用"}


def test_the_chinese_readme_covers_the_sections_a_user_needs() -> None:
    english, chinese = ((ROOT / name).read_text() for name in READMES)
    headings = set(re.findall(r"^## (.+)$", chinese, re.MULTILINE))
    assert set(SECTIONS.values()) <= headings
    assert all(f"## {section}\n" in english for section in SECTIONS)
    # Every key of the English configuration references (the tables headed `| key | default | meaning |`).
    keys = [key for table in english.split("| key | default | meaning |")[1:]
            for key in re.findall(r"^\| `([^`]+)`", table.split("\n\n", 1)[0], re.MULTILINE)]
    assert len(keys) > 60 and "routes[].translations" in keys and "locale" in keys
    assert sorted(key for key in keys if f"`{key}`" not in chinese) == []


def section(readme: str, heading: str) -> str:
    return readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_chinese_status_page_and_metrics_sections_carry_what_the_english_ones_do() -> None:
    english, chinese = ((ROOT / name).read_text() for name in READMES)
    page, metrics = section(chinese, "状态页"), section(chinese, "Prometheus 指标")
    assert "(docs/status-page.png)" in page and "(docs/status-page.png)" in section(english, "Status page")
    assert all(word in page for word in ("host: 0.0.0.0", '"8780:8780"', "HTTP_TOKEN", "HttpOnly", "log_level: debug"))
    # Every metric, the scrape config and the three alerts of the English section.
    names = set(re.findall(r"`(wechat_bridge_\w+)`", section(english, "Metrics")))
    exported = {f"{family.name}_total" if family.type == "counter" else family.name
                for family in PrometheusMetrics().registry.collect()}
    assert names == exported and sorted(name for name in names if f"`{name}`" not in metrics) == []
    for needed in ["http.metrics_token", "scrape_configs:", *re.findall(r"alert: (\w+)", section(english, "Metrics"))]:
        assert needed in metrics, needed


def readme_map() -> dict[str, str]:
    """The names in README's "How it works" map of `bridge/` -> their line: `config/`, `app.py`."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## How it works"):]
    block = re.search(r"```\nbridge/\n(.*?)\n```", section, re.DOTALL)
    assert block, "README's How it works has no map of bridge/"
    return {m.group(1): line for line in block.group(1).splitlines()
            if (m := re.match(r"^  (\S+(?:/|\.py))\s", line))}


def bridge_layout() -> set[str]:
    """What the map must name: every package (`config/`) and top-level module (`app.py`) of bridge/."""
    bridge = ROOT / "bridge"
    packages = {f"{p.name}/" for p in bridge.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.name for p in bridge.glob("*.py") if p.name != "__init__.py"}
    return packages | modules


def test_the_map_in_how_it_works_names_every_package_and_module_and_nothing_else() -> None:
    mapped, there = set(readme_map()), bridge_layout()
    assert not there - mapped, f"README's map of bridge/ misses {sorted(there - mapped)}"
    assert not mapped - there, f"README's map of bridge/ names what does not exist: {sorted(mapped - there)}"


def test_the_map_check_sees_a_missing_and_a_made_up_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    real = readme_map()
    assert "outbox/" in real and "app.py" in real
    monkeypatch.setattr(sys.modules[__name__], "readme_map",
                        lambda: {**{k: v for k, v in real.items() if k != "outbox/"}, "made_up.py": ""})
    with pytest.raises(AssertionError, match=r"misses \['outbox/'\]"):
        test_the_map_in_how_it_works_names_every_package_and_module_and_nothing_else()
    monkeypatch.setattr(sys.modules[__name__], "readme_map", lambda: {**real, "made_up.py": ""})
    with pytest.raises(AssertionError, match=r"made_up\.py"):
        test_the_map_in_how_it_works_names_every_package_and_module_and_nothing_else()


# --- the official bot (issue 24) ----------------------------------------------------------------------------


def nudges(locale: str) -> list[str]:
    """The lines the official bot ends a message with (`OfficialBot._nudge`), 2 and 1 left, then none."""
    bot = SimpleNamespace(_settings=IlinkSettings(), _texts=lambda: texts_for(locale))
    return [OfficialBot._nudge(bot, left).strip() for left in (2, 1, 0)]  # type: ignore[arg-type]


def test_both_readmes_quote_the_nudge_lines_the_bot_sends_in_their_language() -> None:
    english, chinese = (section((ROOT / name).read_text(), heading)
                        for name, heading in (("README.md", "Getting WeChat online"), ("README.zh-CN.md", "接入微信")))
    two, one, last = nudges("en")
    assert two in english and last in english and one.split(";")[0] in english
    two, one, last = nudges("zh-CN")
    assert two in chinese and last in chinese and one.split("；")[0] in chinese


def test_the_official_bot_state_examples_are_what_the_bridge_publishes() -> None:
    """Each `<base>/bridge/ilink/<name>` example: the payload's keys, a state it can have, a reason it writes."""
    keys = set(ilink_body(IlinkState(name="alice", state="logged_in")))
    clock = r"\d\d:\d\d:\d\d"
    reasons = [re.escape(why(name, Remaining(gate=gate, budget=0, window_until=None, retry_at=None,
                                            context_token=None), 10)).replace("later", clock)
               for gate in Gate if gate is not Gate.OPEN for name in ("alice", "mama")]
    # The sentences of an expired session and of the bridge's own QR login (bridge/wechat/official.py,
    # its steps in official_login.py: " again" for a person bound before).
    source = "".join((ROOT / f"bridge/wechat/{module}.py").read_text() for module in ("official", "official_login"))
    assert "expired (errcode -14); no call until " in source
    assert "to log the official bot in{self._again} " in source and '_again = " again"' in source
    reasons += [rf"the official bot's session for (alice|mama) expired \(errcode -14\); no call until {clock}, "
                "then it tries again",
                r"scan the QR code with (alice|mama)'s WeChat to log the official bot in again \(code 1 of 3\)"]
    for readme, heading, part in (("README.md", "MQTT topics", "### Official bots"),
                                  ("README.zh-CN.md", "接入微信", "### 官方机器人的状态")):
        text = section((ROOT / readme).read_text(), heading).split(part, 1)[1]
        block = re.search(r"`<base>/bridge/ilink/<name>`.*?```json\n(.*?)```", text, re.DOTALL)
        assert block, f"{readme}: no example of <base>/bridge/ilink/<name>"
        examples = [json.loads(line) for line in block.group(1).splitlines()]
        assert len(examples) >= 5
        for example in examples:
            assert set(example) == keys, example
            assert example["state"] in ("logged_in", "logged_out", "scan")
            assert (example["budget"] is None) == (example["state"] != "logged_in"), example
            assert example["reason"] is None or any(re.fullmatch(r, example["reason"]) for r in reasons), example


#: The heading of the section with the table of the routes to group chats, by README (issue 25).
GROUP_CHATS = {"README.md": "## Group chats through a gateway\n", "README.zh-CN.md": "## 群聊走网关\n"}
#: Every route of 2026 the table must name, by its id (the first cell's first `code`).
ROUTES_2026 = ["wechat-skill", "ipad", "xp", "wechat4u", "mock"]


def group_chat_routes(readme: str) -> list[tuple[str, list[str]]]:
    """The rows of the first table of the README's Group chats section: (route id, cells)."""
    text = (ROOT / readme).read_text()
    assert GROUP_CHATS[readme] in text, f"{readme}: no Group chats section"
    section = text.split(GROUP_CHATS[readme], 1)[1].split("\n## ", 1)[0]
    table = section[section.index("\n|"):].split("\n\n", 1)[0].strip().splitlines()
    rows = []
    for line in table[2:]:  # the header and its rule
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        found = re.match(r"`([^`]+)`", cells[0])
        assert found, line
        rows.append((found.group(1), cells))
    return rows


@pytest.mark.parametrize("readme", READMES)
def test_the_group_chats_table_lists_the_routes_of_2026_with_every_fact_marked(readme: str) -> None:
    rows = group_chat_routes(readme)
    assert [route for route, _ in rows] == ROUTES_2026
    for route, cells in rows:
        # route, cost, platform, group chats, images and files, @-mentions, status in 2026, sources
        assert len(cells) == 8, (route, cells)
        for cell in cells[1:7]:
            # T (tested here) or U (reported upstream): `(U)`, `(T: the test)`, `（U：...）`
            assert re.search(r"(?<![A-Za-z])[TU][)）:：]", cell), (route, cell)
        assert "](" in cells[7], (route, cells[7])  # a link to its source
    text = (ROOT / readme).read_text()
    statement = {"README.md": "no free route to group chats runs on Linux",
                 "README.zh-CN.md": "没有任何免费、能发群聊的方式能在 Linux 上跑"}[readme]
    assert statement in text


def test_both_readmes_list_the_same_group_chat_routes() -> None:
    english, chinese = (group_chat_routes(readme) for readme in READMES)
    assert [route for route, _ in english] == [route for route, _ in chinese]
    # The same sources, link for link.
    for (route, en_cells), (_, zh_cells) in zip(english, chinese, strict=True):
        assert re.findall(r"\]\(([^)]+)\)", en_cells[7]) == re.findall(r"\]\(([^)]+)\)", zh_cells[7]), route


def footprint_figures(readme: str, heading: str, header: str) -> list[list[str]]:
    """The figures of each row of the footprint table (issue 28), words and units left out."""
    table = section(readme, heading).split(header, 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[2:-1] for line in table.splitlines()[2:]]
    return [[" ".join(re.findall(r"[-+]?\d[\d,.]*", cell)) for cell in row] for row in rows]


def test_both_readmes_give_the_same_footprint_figures() -> None:
    english, chinese = ((ROOT / name).read_text() for name in READMES)
    figures = footprint_figures(english, "Performance", "| setup | start-up |")
    assert len(figures) == 7 and figures[0][:2] == ["0.28", "47"]
    assert footprint_figures(chinese, "资源占用", "| 配置 | 启动 |") == figures

"""The Home Assistant App's files, checked against Home Assistant's documented App configuration.

From the developer documentation's "App configuration" page (developers.home-assistant.io,
docs/add-ons/configuration): the required keys and the type of every key used here, the `options`
and `schema` rules (every option has a schema entry; the schema's types are the documented ones),
the translation files (`translations/<language>.yaml`, `configuration.<option>.name/description`),
the App's files (DOCS.md, CHANGELOG.md, icon.png 128x128, logo.png), and the repository file the
Supervisor reads at the repository's root. Beyond the page: the rules issue 26 gives (no `watchdog`,
which the App linter rejects; `init: false`; aarch64 and amd64 only, the others being deprecated),
and that no other config.yaml/config.json in the repository can be taken for an App.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "wechat_mqtt_bridge"

REQUIRED = {"name": str, "version": str, "slug": str, "description": str, "arch": list}
#: The documented type of each optional key this App uses.
OPTIONAL = {"url": str, "startup": str, "boot": str, "init": bool, "services": list, "hassio_api": bool,
            "ingress": bool, "ingress_port": int, "panel_icon": str, "panel_title": str, "map": list,
            "options": dict, "schema": dict}
ARCHES = {"aarch64", "amd64"}
STARTUP = {"initialize", "system", "services", "application", "once"}
MAP_TYPES = {"homeassistant_config", "addon_config", "ssl", "addons", "backup", "share", "media",
             "all_addon_configs", "data"}
#: The schema's types: str/int/float with optional bounds, bool, email, url, password, port,
#: match(REGEX), list(a|b|...), device(filter); a trailing `?` makes one optional.
SCHEMA_TYPE = re.compile(r"^(?:str|int|float)(?:\(\d*,\d*\))?\??$|^(?:bool|email|url|password|port)\??$"
                         r"|^match\(.+\)\??$|^list\([^|()]+(?:\|[^|()]+)*\)\??$|^device(?:\(.+\))?\??$")
LANGUAGES = ("en", "zh-Hans")


def app_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((APP / "config.yaml").read_text())
    return loaded


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_required_and_optional_keys_have_their_documented_types() -> None:
    config = app_config()
    for key, kind in REQUIRED.items():
        assert isinstance(config.get(key), kind), f"{key} must be a {kind.__name__}"
    unknown = set(config) - set(REQUIRED) - set(OPTIONAL)
    assert not unknown, f"keys this test does not know the documented type of: {unknown}"
    for key, kind in OPTIONAL.items():
        if key in config:
            assert isinstance(config[key], kind) and not (kind is int and isinstance(config[key], bool)), key
    assert re.fullmatch(r"[a-z0-9_]+", config["slug"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", config["version"])
    assert set(config["arch"]) == ARCHES
    assert config["startup"] in STARTUP and config["boot"] in {"auto", "manual", "manual_only"}


def test_the_app_is_what_issue_26_asks() -> None:
    config = app_config()
    assert config["init"] is False
    assert "watchdog" not in config  # the App linter rejects it
    assert config["services"] == ["mqtt:need"] and config["hassio_api"] is True
    assert config["ingress"] is True and 1 <= config["ingress_port"] <= 65535
    assert config["panel_icon"].startswith("mdi:")
    assert {"type": "addon_config", "read_only": False} in config["map"]
    for entry in config["map"]:
        kind = entry["type"] if isinstance(entry, dict) else entry.split(":")[0]
        assert kind in MAP_TYPES, entry
    # The entry point serves the page on the port ingress proxies to.
    assert f'"INGRESS_PORT", "{config["ingress_port"]}"' in (APP / "run.py").read_text()


def test_every_option_has_a_schema_entry_of_a_documented_type() -> None:
    config = app_config()
    options, schema = config["options"], config["schema"]
    assert set(options) == set(schema)
    for name, kind in schema.items():
        kinds = kind if isinstance(kind, list) else [kind]  # a list option: its items' type
        for item in kinds:
            assert isinstance(item, str) and SCHEMA_TYPE.match(item), f"{name}: {item!r}"
        default = options[name]
        if isinstance(kind, list):
            assert isinstance(default, list), name
        elif default is not None:  # null: the user must give it before the first start
            assert not kind.endswith("?"), f"{name}: an optional option takes no default (HA's docs)"
            if kind.startswith("list("):
                assert default in kind[5:-1].split("|"), name
            if kind == "bool":
                assert isinstance(default, bool), name


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_option_is_translated(language: str) -> None:
    translation = yaml.safe_load((APP / "translations" / f"{language}.yaml").read_text())
    assert set(translation) <= {"configuration", "network"}
    configuration = translation["configuration"]
    assert set(configuration) == set(app_config()["schema"])
    for name, text in configuration.items():
        assert set(text) == {"name", "description"}, name
        assert all(isinstance(v, str) and v.strip() for v in text.values()), name


def test_the_apps_files_and_the_repository_file() -> None:
    for name in ("DOCS.md", "CHANGELOG.md", "Dockerfile", "run.py"):
        assert (APP / name).is_file(), name
    assert png_size(APP / "icon.png") == (128, 128)
    width, height = png_size(APP / "logo.png")
    assert width > height  # a wide logo beside the icon's square
    assert app_config()["version"] in (APP / "CHANGELOG.md").read_text()
    repository = yaml.safe_load((ROOT / "repository.yaml").read_text())
    assert isinstance(repository["name"], str) and repository["name"]
    dockerfile = (APP / "Dockerfile").read_text()
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.MULTILINE)
    assert re.search(r"^USER root$", dockerfile, re.MULTILINE)  # /data is root's 0755 under the Supervisor


def test_no_other_file_can_be_taken_for_an_app() -> None:
    """The Supervisor reads every config.yaml/config.json in a repository as an App's."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = [p for p in tracked.splitlines() if Path(p).name in {"config.yaml", "config.yml", "config.json"}]
    assert found == ["wechat_mqtt_bridge/config.yaml"]

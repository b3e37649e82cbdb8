"""The shape of `bridge/`, read from its imports with `ast`, so that it cannot rot unnoticed.

- `bridge/` is a few core modules at the top (values, the error tree, the topic contract) and one
  package per stage. Each package may import the core and the packages its row of `PACKAGES` names,
  nothing else; no two packages import each other, directly or through a circle.
- Each outside system is imported by exactly the package (or module) that speaks to it.
- The value types that cross stages import nothing of ours but each other and the error tree.
- The pure stages reach no adapter, not even through another module.
- Every package's `__init__` says what it owns and what it may import; no module is over 500 lines;
  no top-level module carries a family prefix (`delivery_*`): a family is a package.

Every import counts, at module level, inside functions and under `TYPE_CHECKING` alike.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
_SOURCES = {str(p.relative_to(BRIDGE.parent)) for p in BRIDGE.rglob("*.py")}

#: Top-level modules every stage may import: values, the error tree, the topic contract, the
#: texts, the link states and the metrics interface. They import only each other.
CORE = {"errors", "events", "chat", "topics", "links", "i18n", "metrics", "tasks"}

#: Package (or top-level module above the core) -> what of ours it may import besides the core.
#: Read top to bottom, it is the data flow: nothing imports a row below its own.
PACKAGES: dict[str, set[str]] = {
    "config": set(),
    "pipeline": {"config"},
    "outbox": {"config"},
    "mqtt": {"config"},
    "wechat": {"config", "pipeline"},
    "homeassistant": {"config"},
    "delivery": {"config", "pipeline", "outbox"},
    "fallback": {"config", "pipeline", "outbox", "delivery"},
    "reporting": {"config", "pipeline", "outbox", "wechat", "fallback"},
    "inbound": {"config", "pipeline", "outbox", "reporting", "homeassistant"},
    "reactions": {"config", "pipeline", "outbox", "wechat", "reporting", "homeassistant"},
    "commands": {"config", "pipeline", "outbox", "mqtt", "wechat", "reporting"},
    "http": {"config", "pipeline", "outbox", "wechat", "reporting", "homeassistant", "commands"},
    "cli": {"app", "commands", "config", "pipeline", "fallback", "wechat"},
    "app": {"config", "pipeline", "outbox", "mqtt", "wechat", "homeassistant", "delivery", "fallback",
            "reporting", "inbound", "reactions", "http"},
    "__main__": {"cli"},
}

#: Outside system (top-level import name) -> the only modules allowed to import it.
OUTSIDE_SYSTEMS: dict[str, set[str]] = {
    "aiomqtt": {"bridge.mqtt.*"},
    "paho": {"bridge.mqtt.*"},
    "grpc": {"bridge.wechat.puppet.*"},
    # The outbox opens the database (store) and migrates it (schema); its other modules run their SQL on
    # the connection they are handed, and import no driver.
    "sqlite3": {"bridge.outbox.store", "bridge.outbox.schema"},
    # The HTTP door (server and page) and the downloader. The official bot has its own small HTTP/1.1
    # client (bridge.wechat.ilink.web): aiohttp's cost a small machine ~10 MB.
    "aiohttp": {"bridge.http.*"},
    # AES-128-ECB of the official bot's CDN uploads
    "cryptography": {"bridge.wechat.ilink.cdn"},
    # The sandboxed environment for users' templates; the status page's HTML has its own autoescaping one.
    "jinja2": {"bridge.pipeline.templates", "bridge.http.page"},
    "prometheus_client": {"bridge.http.prometheus"},
    "yaml": {"bridge.config.yaml_source"},
    "apprise": {"bridge.fallback.apprise"},
}

#: Frozen values that cross stages: they import nothing of ours except each other and the errors.
VALUE_TYPES = {"bridge.events", "bridge.chat", "bridge.outbox.records", "bridge.outbox.fallback_records",
               "bridge.errors"}

#: The modules that talk to an outside system.
ADAPTERS = {"bridge.mqtt.session", "bridge.wechat.client", "bridge.wechat.puppet", "bridge.wechat.ilink.api",
            "bridge.outbox.store",
            "bridge.http.door", "bridge.http.download", "bridge.http.prometheus", "bridge.fallback.apprise"}

#: Stages that compute and decide: none of them may reach an adapter, directly or through another module.
PURE_PACKAGES = {"config", "pipeline"}
PURE_MODULES = {"bridge.outbox.admission", "bridge.outbox.endings", "bridge.delivery.pacing",
                "bridge.fallback.rules", "bridge.reporting.payloads", "bridge.wechat.rooms",
                "bridge.wechat.ilink.window", "bridge.wechat.ilink.text",
                "bridge.http.overview", "bridge.http.apprise_in", "bridge.commands.render", "bridge.homeassistant"}

MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(BRIDGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _generated(path: Path) -> bool:
    return "proto" in path.relative_to(BRIDGE).parts


@cache
def _modules() -> dict[str, set[str]]:
    """Every module of `bridge` (generated protobuf stubs aside) -> the names it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(BRIDGE.rglob("*.py")):
        if _generated(path):
            continue
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], base]).strip(".")
                imported.add(base)
                # `from bridge.reporting import payloads` imports the module bridge.reporting.payloads
                imported.update(f"{base}.{alias.name}" for alias in node.names
                                if f"{base}.{alias.name}".replace(".", "/") + ".py" in _SOURCES)
        found[name] = imported
    return found


def _ours(name: str) -> str | None:
    """The module of ours that an imported name refers to (`bridge.events.Delivery` is `bridge.events`)."""
    modules = _modules()
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: `bridge.outbox.store` -> `outbox`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "bridge"


def _allowed(module: str, patterns: set[str]) -> bool:
    return any(module == p or (p.endswith(".*") and module.startswith(p[:-1])) for p in patterns)


def _imports_of_ours(module: str) -> set[str]:
    return {found for name in _modules()[module] if (found := _ours(name)) is not None and found != module}


def _reach(module: str) -> set[str]:
    """Every module of ours `module` loads, directly or through others."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for found in _imports_of_ours(todo.pop()):
            if found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


def _unit_edges() -> dict[str, set[str]]:
    """Package (or top-level module) -> the others it imports."""
    edges: dict[str, set[str]] = {}
    for module in _modules():
        edges.setdefault(_unit(module), set()).update(
            _unit(found) for found in _imports_of_ours(module) if _unit(found) not in (_unit(module), "bridge"))
    return edges


def _units() -> set[str]:
    return {_unit(m) for m in _modules()} - {"bridge"}


def test_the_parser_sees_the_modules_and_their_imports() -> None:
    modules = _modules()
    assert {"bridge.app", "bridge.mqtt.session", "bridge.events", "bridge.wechat.puppet.link"} <= set(modules)
    assert "aiomqtt" in modules["bridge.mqtt.session"]
    assert "bridge.mqtt.session" in _imports_of_ours("bridge.app")
    # `from bridge.reporting import payloads as reports`
    assert "bridge.reporting.payloads" in _imports_of_ours("bridge.reporting.status")


def test_every_package_and_top_level_module_has_a_row() -> None:
    assert _units() == CORE | set(PACKAGES), "a package or top-level module is missing from CORE/PACKAGES, or gone"


@pytest.mark.parametrize("unit", sorted(PACKAGES))
def test_each_package_imports_only_the_core_and_its_row(unit: str) -> None:
    wrong = sorted(_unit_edges().get(unit, set()) - CORE - PACKAGES[unit])
    assert not wrong, f"bridge.{unit} imports {wrong}; its row allows {sorted(PACKAGES[unit])} and the core"


@pytest.mark.parametrize("unit", sorted(CORE))
def test_the_core_imports_only_the_core(unit: str) -> None:
    wrong = sorted(_unit_edges().get(unit, set()) - CORE)
    assert not wrong, f"bridge.{unit} is core and imports {wrong}"


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports between packages, if there is one (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_two_packages_import_each_other_directly_or_through_a_circle() -> None:
    circle = _cycle(_unit_edges())
    assert circle is None, "packages import each other: " + " -> ".join(circle or [])


def test_the_circle_finder_finds_circles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("system", sorted(OUTSIDE_SYSTEMS))
def test_each_outside_system_is_imported_by_its_one_module(system: str) -> None:
    importers = {module for module, names in _modules().items()
                 if any(name == system or name.startswith(system + ".") for name in names)}
    wrong = sorted(m for m in importers if not _allowed(m, OUTSIDE_SYSTEMS[system]))
    assert not wrong, f"{system} is imported by {wrong}; only {sorted(OUTSIDE_SYSTEMS[system])} may"


@pytest.mark.parametrize("module", sorted(VALUE_TYPES))
def test_value_types_import_nothing_of_ours_but_each_other(module: str) -> None:
    wrong = sorted(_imports_of_ours(module) - VALUE_TYPES - {"bridge"})
    assert not wrong, f"{module} imports {wrong}"


def _pure_modules() -> list[str]:
    return sorted(PURE_MODULES | {m for m in _modules() if _unit(m) in PURE_PACKAGES})


@pytest.mark.parametrize("module", _pure_modules())
def test_pure_stages_reach_no_adapter_even_through_other_modules(module: str) -> None:
    assert module in _modules(), f"{module} is gone: update PURE_MODULES"
    reached = sorted(m for m in _reach(module) if _allowed(m, {*ADAPTERS, *(a + ".*" for a in ADAPTERS)}))
    assert not reached, f"{module} loads {reached}"


@pytest.mark.parametrize("package", sorted(u for u in PACKAGES if (BRIDGE / u).is_dir()))
def test_every_package_says_what_it_owns_and_may_import(package: str) -> None:
    init = BRIDGE / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert doc, f"bridge/{package}/__init__.py has no docstring"
    assert "import" in doc.lower(), f"bridge/{package}/__init__.py does not say what it may import"


def test_no_module_is_over_500_lines() -> None:
    long = sorted(f"{p.relative_to(BRIDGE.parent)}: {n}" for p in BRIDGE.rglob("*.py")
                  if not _generated(p) and (n := len(p.read_text().splitlines())) > MAX_LINES)
    assert not long, f"split these modules: {long}"


def test_no_top_level_module_carries_a_family_prefix() -> None:
    prefixed = sorted(p.name for p in BRIDGE.glob("*.py") if "_" in p.stem.strip("_"))
    assert not prefixed, f"a family of modules is a package: {prefixed}"


def _positional_constructors() -> list[str]:
    """Classes of ours built with more than four parameters, some of which may be given by position."""
    found = []
    for path in BRIDGE.rglob("*.py"):
        if _generated(path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            where = f"{path.relative_to(BRIDGE.parent)}:{node.lineno} {node.name}"
            dataclass = next((d for d in node.decorator_list if isinstance(d, ast.Call)
                              and getattr(d.func, "id", None) == "dataclass"), None)
            if dataclass is not None:
                fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
                kw_only = any(k.arg == "kw_only" for k in dataclass.keywords)
                if len(fields) > 4 and not kw_only:
                    found.append(f"{where} ({len(fields)} fields)")
            for init in (f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"):
                positional = [a.arg for a in init.args.args[1:]]
                # One leading positional (the settings, a path, the connection) reads fine, as in aiomqtt.
                if len(positional) + len(init.args.kwonlyargs) > 4 and len(positional) > 1:
                    found.append(f"{where} ({', '.join(positional)} by position)")
    return found


def test_constructors_with_more_than_four_parameters_are_keyword_only() -> None:
    assert not _positional_constructors()


#: What a bridge built for the official bot alone (no group chat, no fallback, no HTTP door, no
#: discovery) must not load: each comes with the part of the config that needs it.
NOT_FOR_THE_BOT_ALONE = ("grpc", "apprise", "prometheus_client", "aiohttp", "qrcode", "cryptography", "regex",
                         "bridge.wechat.puppet", "bridge.wechat.client", "bridge.http.door", "bridge.http.page", "xml")


def _loaded_by(config: dict[str, object]) -> set[str]:
    """The modules a bridge built (not run) for `config` has loaded, read in a fresh interpreter."""
    probe = ("import json, sys; from bridge.config.models import Config; from bridge.app import Bridge; "
             f"Bridge(Config.model_validate({config!r})); print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=BRIDGE.parent, capture_output=True, text=True,
                         check=True, timeout=60)
    return set(json.loads(out.stdout))


def test_a_bridge_for_the_official_bot_alone_loads_no_grpc_apprise_prometheus_or_aiohttp() -> None:
    loaded = _loaded_by({"rooms": {"me": {"ilink": "alice"}}, "homeassistant": {"discovery": False}})
    wrong = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_FOR_THE_BOT_ALONE))
    assert not wrong, f"loaded without being configured: {wrong}"
    assert "bridge.wechat.official" in loaded and "importlib.metadata" not in _entry_point_walks()


def _entry_point_walks() -> set[str]:
    """pydantic's plugin lookup walks every distribution's entry points at the first model: it is off."""
    probe = ("import importlib.metadata as m, sys; calls = []; real = m.entry_points; "
             "m.entry_points = lambda *a, **k: calls.append(1) or real(*a, **k); "
             "from bridge.config.models import Config; Config.model_validate({}); "
             "print('importlib.metadata' if calls else '')")
    out = subprocess.run([sys.executable, "-c", probe], cwd=BRIDGE.parent, capture_output=True, text=True,
                         check=True, timeout=60)
    return {out.stdout.strip()} - {""}


def test_each_part_of_the_config_loads_its_library() -> None:
    loaded = _loaded_by({"rooms": {"ops": {"topic": "Ops"}}, "wechaty": {"token": "t"},
                         "http": {"enabled": True, "token": "a-long-enough-token-123456"}})
    assert {"grpc", "prometheus_client", "aiohttp.web", "bridge.http.door"} <= loaded


def test_apprise_waits_for_the_first_fallback_send() -> None:
    # All ~130 of Apprise's service modules, and cryptography with them: a bridge whose WeChat never
    # goes away does not carry them (tests/integration/test_fallback.py sends through it).
    loaded = _loaded_by({"rooms": {"me": {"ilink": "alice"}}, "fallback": {"urls": ["ntfy://ntfy.example.com/t"]}})
    assert "bridge.fallback.apprise" in loaded and "apprise" not in loaded and "cryptography" not in loaded

"""The shape of `bridge/`, read from its imports with `ast`, so that it cannot rot unnoticed.

- Each outside system is imported by exactly the module (or package) that speaks to it.
- The value types that cross stages import nothing of ours but each other and the error tree.
- Only the modules that really talk to an adapter import it, and the pure stages reach none,
  not even through another module: a stage that wants a dataclass never loads aiomqtt.

Every import counts, at module level, inside functions and under `TYPE_CHECKING` alike.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
_SOURCES = {str(p.relative_to(BRIDGE.parent)) for p in BRIDGE.rglob("*.py")}

#: Outside system (top-level import name) -> the only modules allowed to import it.
OUTSIDE_SYSTEMS: dict[str, set[str]] = {
    "aiomqtt": {"bridge.mqtt"},
    "paho": {"bridge.mqtt"},
    "grpc": {"bridge.wechaty.*"},
    "sqlite3": {"bridge.outbox"},
    "aiohttp": {"bridge.http.*", "bridge.download"},  # the HTTP door (server and page), the downloader
    # The sandboxed environment for users' templates; the status page's HTML has its own autoescaping one.
    "jinja2": {"bridge.templates", "bridge.http.page"},
    "prometheus_client": {"bridge.prometheus"},
    "yaml": {"bridge.yaml_source"},
    "apprise": {"bridge.fallback_apprise"},
}

#: Frozen values that cross stages: they import nothing of ours except each other and the errors.
VALUE_TYPES = {"bridge.events", "bridge.wechat_types", "bridge.outbox_records", "bridge.fallback_records",
               "bridge.errors"}

#: Adapter -> the modules that may import it directly (they do talk to that system).
ADAPTERS: dict[str, set[str]] = {
    "bridge.mqtt": {"bridge.app", "bridge.health", "bridge.doctor"},
    "bridge.wechat": {"bridge.app", "bridge.doctor"},
    "bridge.wechaty": {"bridge.wechat", "bridge.doctor", "bridge.wechaty.*"},
    "bridge.http": {"bridge.app", "bridge.http.*"},
    "bridge.prometheus": {"bridge.app", "bridge.http.door", "bridge.http.page"},
    "bridge.download": {"bridge.app"},
    # The fallback's way out: the app builds it, `check` asks it about every URL.
    "bridge.fallback_apprise": {"bridge.app", "bridge.cli"},
    # The fallback's tables are a part of the outbox, which inherits them.
    "bridge.outbox_fallback": {"bridge.outbox"},
    # The worker's half of the outbox: claims and the outcomes of sends, inherited the same way.
    "bridge.outbox_sending": {"bridge.outbox"},
    "bridge.outbox": {"bridge.app", "bridge.intake", "bridge.delivery", "bridge.delivery_claim",
                      "bridge.delivery_record", "bridge.delivery_types", "bridge.reporter", "bridge.housekeeping",
                      "bridge.info", "bridge.timers", "bridge.fallback_service"},
    # The outbox's SQL for routes' state, run on the outbox's connection inside its transactions.
    "bridge.outbox_state": {"bridge.outbox"},
}

#: Stages that compute and decide: none of them may reach an adapter, directly or through another module.
PURE = {"bridge.admission", "bridge.endings", "bridge.attachments", "bridge.config", "bridge.config_loader",
        "bridge.filters", "bridge.quiet_hours", "bridge.incoming", "bridge.pacing", "bridge.payloads",
        "bridge.pipeline", "bridge.reports", "bridge.rooms",
        "bridge.routing", "bridge.runtime", "bridge.status", "bridge.templates", "bridge.topics",
        "bridge.homeassistant", "bridge.i18n", "bridge.links", "bridge.metrics", "bridge.overview", "bridge.render",
        "bridge.fallback", "bridge.apprise_in",
        *VALUE_TYPES}


def _module_name(path: Path) -> str:
    parts = path.relative_to(BRIDGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, set[str]]:
    """Every module of `bridge` (generated protobuf stubs aside) -> the names it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(BRIDGE.rglob("*.py")):
        if "proto" in path.relative_to(BRIDGE).parts:
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
                # `from bridge import reports` imports the module bridge.reports
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


def test_the_parser_sees_the_modules_and_their_imports() -> None:
    modules = _modules()
    assert {"bridge.app", "bridge.mqtt", "bridge.events", "bridge.wechaty.link"} <= set(modules)
    assert "aiomqtt" in modules["bridge.mqtt"]
    assert "bridge.mqtt" in _imports_of_ours("bridge.app")
    assert "bridge.reports" in _imports_of_ours("bridge.status")  # `from bridge import reports`


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


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
def test_only_the_modules_that_talk_to_an_adapter_import_it(adapter: str) -> None:
    importers = {m for m in _modules() if adapter in _imports_of_ours(m) and not _allowed(m, {adapter + ".*"})}
    wrong = sorted(m for m in importers if not _allowed(m, ADAPTERS[adapter]))
    assert not wrong, f"{adapter} is imported by {wrong}"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_stages_reach_no_adapter_even_through_other_modules(module: str) -> None:
    assert module in _modules(), f"{module} is gone: update PURE"
    reached = sorted(m for m in _reach(module) if _allowed(m, {*ADAPTERS, *(a + ".*" for a in ADAPTERS)}))
    assert not reached, f"{module} loads {reached}"

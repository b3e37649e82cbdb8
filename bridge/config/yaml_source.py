"""YAML files read with the line of every key, so config errors can point at the line.

PyYAML's constructors throw line numbers away; we walk the composed node tree ourselves and
keep a `path -> line` table beside the plain Python value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import ConfigProblem

Path_ = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_path(path: Path_) -> str:
    """`("routes", 2, "template")` -> `routes[2].template`, the way users read key paths."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(slots=True)
class YamlDocument:
    """One parsed file: its value, where each key sits, and what was wrong while reading it."""

    file: str
    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def problem(self, path: Path_, message: str) -> ConfigProblem:
        return ConfigProblem(self.file, format_path(path), message, self.line_of(path))


def read_yaml(path: Path, environ: Mapping[str, str] | None = None) -> YamlDocument:
    """Parse one YAML file; `${VAR}` and `${VAR:-default}` in strings are taken from `environ`."""
    env = os.environ if environ is None else environ
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return YamlDocument(name, None, problems=[ConfigProblem(name, "", "file not found")])
    except (OSError, UnicodeDecodeError) as exc:
        return YamlDocument(name, None, problems=[ConfigProblem(name, "", f"cannot read file: {exc}")])
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        message = f"not valid YAML: {exc.problem or exc}"
        return YamlDocument(name, None, problems=[ConfigProblem(name, "", message, line)])
    except yaml.YAMLError as exc:
        return YamlDocument(name, None, problems=[ConfigProblem(name, "", f"not valid YAML: {exc}")])
    doc = YamlDocument(name, None)
    if node is None:
        doc.problems.append(ConfigProblem(name, "", "the file is empty"))
        return doc
    doc.lines[()] = node.start_mark.line + 1
    builder = _Builder(loader, doc, env)
    try:
        doc.value = builder.build(node, ())
    except yaml.YAMLError as exc:  # a scalar the safe loader refuses, such as an unknown !tag
        doc.problems.append(ConfigProblem(name, "", f"not valid YAML: {exc}"))
    finally:
        loader.dispose()
    return doc


@dataclass(slots=True)
class _Builder:
    loader: yaml.SafeLoader
    doc: YamlDocument
    env: Mapping[str, str]

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, path)
                if not isinstance(key, str | int | float | bool) or key is None:
                    message = f"a key must be a plain value, not {type(key).__name__}"
                    self.doc.problems.append(self.doc.problem(path, message))
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                self.doc.lines[child] = key_node.start_mark.line + 1
                if key in result:
                    self.doc.problems.append(self.doc.problem(child, f"key {key!r} is given twice"))
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.doc.lines[child] = item.start_mark.line + 1
                items.append(self.build(item, child))
            return items
        constructed = self.loader.construct_object(node, deep=True)
        if isinstance(constructed, str) and "${" in constructed:
            return _substitute(constructed, path, self.doc, self.env)
        return constructed


def _substitute(text: str, path: Path_, doc: YamlDocument, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        doc.problems.append(doc.problem(path, f"environment variable {name} is not set"))
        return ""

    return _ENV_REF.sub(replace, text)


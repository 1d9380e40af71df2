"""YAML loading that remembers where every value came from (for file:line error messages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


class YamlProblem(Exception):
    """A YAML file is unreadable; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


# libyaml when it is there (every wheel of PyYAML has it): parsing the suite is the biggest fixed
# cost of a run; the pure-Python loader is the fallback
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    pass


def _no_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise YamlProblem(
                f"duplicate key {key!r} (first defined on line {seen[key]})", key_node.start_mark.line + 1
            )
        seen[key] = key_node.start_mark.line + 1
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


# values of one file, aliases expanded: a bundled scenario has fewer than 400, and nested aliases
# (the "billion laughs") would otherwise expand until the run hangs or memory runs out
MAX_VALUES = 100_000


def _walk(node: yaml.Node, path: Location, lines: dict[Location, int]) -> None:
    if len(lines) >= MAX_VALUES:
        raise YamlProblem(f"more than {MAX_VALUES:,} values once its aliases (*name) are expanded: aliases "
                          "nested in aliases multiply; write the values out", node.start_mark.line + 1)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            _walk(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def load_with_lines(text: str) -> tuple[Any, dict[Location, int]]:
    """Parse one YAML document; return the data and a map from value path to line number."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlProblem(f"invalid YAML: {exc.problem or exc}", line) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}") from exc
    lines: dict[Location, int] = {}
    _walk(node, (), lines)
    return data, lines


def line_for(lines: dict[Location, int], path: Location) -> int:
    """The line of the deepest known ancestor of ``path``."""
    path = tuple(path)
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 0)


MAX_FILE_BYTES = 16 * 1024 * 1024  # a config or scenario file is written by hand: far below this


def read_text(path: Path) -> str:
    """The file's text; YamlProblem for one that is not UTF-8 or is larger than MAX_FILE_BYTES (a
    device such as /dev/zero never ends: read whole, it took all memory, or hung)."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a config or scenario file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(f"not UTF-8 text: {exc}") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as Path.read_text()


def error_location(error: Any) -> Location:
    """Where a JSON Schema error points; for an unexpected key, the key itself (its own line)."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return (*path, extra[0])
    return path

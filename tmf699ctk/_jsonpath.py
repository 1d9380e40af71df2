"""A small JSON path subset for scenarios: ``$``, ``$.a.b``, ``$[0]``, ``$['@type']``, ``$.a[2].b``."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"""\.(?P<name>[A-Za-z_@][\w@-]*)|\[(?P<index>-?\d+)\]|\[['"](?P<key>[^'"]+)['"]\]""")


def parse(path: str) -> list[str | int]:
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$'")
    parts: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match:
            raise ValueError(f"JSON path {path!r}: cannot parse at {path[pos:]!r}")
        if match.group("index") is not None:
            parts.append(int(match.group("index")))
        else:
            parts.append(match.group("name") or match.group("key"))
        pos = match.end()
    return parts


def get(document: Any, path: str) -> Any:
    """Value at ``path``; KeyError with the failing segment when absent."""
    current = document
    walked = "$"
    for part in parse(path):
        if isinstance(part, int):
            if not isinstance(current, list) or not -len(current) <= part < len(current):
                raise KeyError(f"{walked}[{part}] does not exist")
            current = current[part]
            walked += f"[{part}]"
        else:
            if not isinstance(current, dict) or part not in current:
                raise KeyError(f"{walked}.{part} does not exist")
            current = current[part]
            walked += f".{part}"
    return current


def join(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if re.fullmatch(r"[A-Za-z_][\w-]*", key) else f"{base}['{key}']"

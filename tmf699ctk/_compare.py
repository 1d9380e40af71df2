"""Value comparison that follows the spec's tolerance: a server may add attributes, normalise
date-times and write 1000 as 1000.0, but must keep what it was given."""

from __future__ import annotations

from typing import Any

from ._jsonpath import join
from ._schemas import parse_datetime

_SMALL = 200  # containers with at most this many nodes are shown exactly as repr() shows them
MAX_DEPTH = 100  # comparisons go no deeper (parsed bodies are limited to this depth anyway)


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters; bounded in time and memory for any value."""
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # the shown prefix is the same; repr of 16 MB would be 16 MB
    bounded = isinstance(value, dict | list | tuple) and not _small(value)
    text = _bounded_repr(value, limit) if bounded else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _small(value: Any) -> bool:
    """Few enough nodes for repr() to be cheap and safe (no deep recursion)."""
    stack, seen = [value], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > _SMALL:
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return True


def _bounded_repr(value: Any, limit: int) -> str:
    """repr()'s notation, written only as far as ``limit`` characters need (iterative)."""
    out: list[str] = []
    size = 0
    # a stack of pending pieces: a value to write, or literal text (tagged with None)
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack and size <= limit:
        node, literal = stack.pop()
        if literal is not None:
            piece = literal
        elif isinstance(node, dict):
            pending: list[tuple[Any, str | None]] = [(None, "}")]
            for index, (key, item) in enumerate(reversed(list(node.items())[: limit])):
                pending.append((item, None))
                pending.append((None, f"{short(key, limit)}: "))
                if index < min(len(node), limit) - 1:
                    pending.append((None, ", "))
            stack.extend(pending)
            piece = "{"
        elif isinstance(node, list | tuple):
            opening, closing = ("[", "]") if isinstance(node, list) else ("(", ")")
            items = node[: limit]
            pending = [(None, closing)]
            for index, item in enumerate(reversed(items)):
                pending.append((item, None))
                if index < len(items) - 1:
                    pending.append((None, ", "))
            stack.extend(pending)
            piece = opening
        else:
            piece = short(node, limit)
        out.append(piece)
        size += len(piece)
    return "".join(out)


def same_scalar(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    if isinstance(expected, str) and isinstance(actual, str):
        if expected == actual:
            return True
        left, right = parse_datetime(expected), parse_datetime(actual)
        return left is not None and right is not None and left == right
    return expected == actual and type(expected) is type(actual)


def differences(expected: Any, actual: Any, path: str = "$", limit: int = 10) -> list[str]:
    """Where ``actual`` does not contain ``expected`` (extra attributes in ``actual`` are fine)."""
    found: list[str] = []
    _diff(expected, actual, path, found)
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


def _diff(expected: Any, actual: Any, path: str, found: list[str], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        found.append(f"{path}: nested more than {MAX_DEPTH} levels deep, not compared further")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            found.append(f"{path}: expected an object, got {short(actual)}")
            return
        for key, value in expected.items():
            child = join(path, key)
            if key not in actual:
                found.append(f"{child}: missing (sent {short(value)})")
            else:
                _diff(value, actual[key], child, found, depth + 1)
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            found.append(f"{path}: expected an array, got {short(actual)}")
        elif len(actual) != len(expected):
            found.append(f"{path}: expected {len(expected)} items, got {len(actual)}")
        else:
            for index, (exp, act) in enumerate(zip(expected, actual, strict=True)):
                _diff(exp, act, join(path, index), found, depth + 1)
    elif not same_scalar(expected, actual):
        found.append(f"{path}: expected {short(expected)}, got {short(actual)}")

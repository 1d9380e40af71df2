"""Value comparison that follows the spec's tolerance: a server may add attributes, normalise
date-times and write 1000 as 1000.0, but must keep what it was given."""

from __future__ import annotations

from typing import Any

from ._jsonpath import join
from ._schemas import parse_datetime


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _diff(expected: Any, actual: Any, path: str, found: list[str]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            found.append(f"{path}: expected an object, got {short(actual)}")
            return
        for key, value in expected.items():
            child = join(path, key)
            if key not in actual:
                found.append(f"{child}: missing (sent {short(value)})")
            else:
                _diff(value, actual[key], child, found)
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            found.append(f"{path}: expected an array, got {short(actual)}")
        elif len(actual) != len(expected):
            found.append(f"{path}: expected {len(expected)} items, got {len(actual)}")
        else:
            for index, (exp, act) in enumerate(zip(expected, actual, strict=True)):
                _diff(exp, act, join(path, index), found)
    elif not same_scalar(expected, actual):
        found.append(f"{path}: expected {short(expected)}, got {short(actual)}")

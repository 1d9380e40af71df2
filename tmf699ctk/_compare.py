"""Value comparison that follows the spec's tolerance: a server may add attributes, normalise
date-times, write 1000 as 1000.0 and return the items of an array in another order, but must
keep what it was given."""

from __future__ import annotations

import copy
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


def mismatches(left: Any, right: Any, names: tuple[str, str], path: str = "$", limit: int = 10) -> list[str]:
    """Where two representations differ, in either direction (``names`` say which is which)."""
    found: list[str] = []
    _mismatch(left, right, path, found, names)
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


def _mismatch(left: Any, right: Any, path: str, found: list[str], names: tuple[str, str]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in dict.fromkeys([*left, *right]):
            child = join(path, key)
            if key not in right:
                found.append(f"{child}: only in {names[0]} ({short(left[key])})")
            elif key not in left:
                found.append(f"{child}: only in {names[1]} ({short(right[key])})")
            else:
                _mismatch(left[key], right[key], child, found, names)
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        fits = [[j for j, b in enumerate(right) if not mismatches(a, b, names, limit=1)] for a in left]
        pairing = _pair(fits)
        free = [j for j in range(len(right)) if j not in pairing.values()]
        for i in (i for i in range(len(left)) if i not in pairing):
            _mismatch(left[i], right[free.pop(0)], join(path, i), found, names)
    elif isinstance(left, dict | list) or isinstance(right, dict | list):
        if left != right:
            found.append(f"{path}: {names[0]} has {short(left)}, {names[1]} has {short(right)}")
    elif not same_scalar(left, right):
        found.append(f"{path}: {names[0]} has {short(left)}, {names[1]} has {short(right)}")


def patch_differences(patch: Any, actual: Any, path: str = "$", limit: int = 10) -> list[str]:
    """Where ``actual`` does not show a merge patch (RFC 7396): the values it sets are there (as
    ``differences`` sees them) and the members it sets to ``null`` are gone, at any depth."""
    found: list[str] = []
    _patch_diff(patch, actual, path, found)
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


def _patch_diff(patch: Any, actual: Any, path: str, found: list[str]) -> None:
    if not (isinstance(patch, dict) and isinstance(actual, dict)):
        _diff(patch, actual, path, found)
        return
    for key, value in patch.items():
        child = join(path, key)
        if value is None:
            if key in actual:
                found.append(f"{child}: still {short(actual[key])}, but the patch removes it (null)")
        elif key not in actual:
            found.append(f"{child}: missing (sent {short(value)})")
        else:
            _patch_diff(value, actual[key], child, found)


def contains(expected: Any, actual: Any) -> bool:
    return not differences(expected, actual, limit=1)


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
            _diff_items(expected, actual, path, found)
    elif not same_scalar(expected, actual):
        found.append(f"{path}: expected {short(expected)}, got {short(actual)}")


def _diff_items(expected: list[Any], actual: list[Any], path: str, found: list[str]) -> None:
    """Items compared regardless of position: no TMF699 array is ordered (a note, a party, a
    contact medium is an unordered member), so a server may return them in any order."""
    positional: list[str] = []
    for index, (exp, act) in enumerate(zip(expected, actual, strict=True)):
        _diff(exp, act, join(path, index), positional)
    if not positional:
        return
    fits = [[j for j, act in enumerate(actual) if contains(exp, act)] for exp in expected]
    pairing = _pair(fits)
    unmatched = [i for i in range(len(expected)) if i not in pairing]
    if not unmatched:
        return  # the same items, in another order
    free = [j for j in range(len(actual)) if j not in pairing.values()]
    for i in unmatched:
        # name the closest remaining item's differences: the most useful evidence
        best = min(free, key=lambda j: len(differences(expected[i], actual[j], limit=100)))
        free.remove(best)
        _diff(expected[i], actual[best], join(path, i), found)


def _pair(fits: list[list[int]]) -> dict[int, int]:
    """A maximum matching of expected items to the actual items that contain them (Kuhn)."""
    owner: dict[int, int] = {}  # actual index -> expected index

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(fits)):
        place(i, set())
    return {i: j for j, i in owner.items()}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, ``null`` removes, anything else replaces whole."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result

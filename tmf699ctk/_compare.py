"""Value comparison that follows the spec's tolerance: a server may add attributes, normalise
date-times, write 1000 as 1000.0 and return the items of an array in another order, but must
keep what it was given."""

from __future__ import annotations

from typing import Any

from ._jsonpath import join
from ._safejson import copy_json
from ._schemas import parse_datetime

_SMALL = 200  # containers with at most this many nodes are shown exactly as repr() shows them
MAX_DEPTH = 100  # comparisons go no deeper (parsed bodies are limited to this depth anyway)
# pairs of items tried when matching arrays regardless of order: the matching is quadratic (and
# its recursion as deep as the shorter array), so a server's 10 000-item array is compared in order
MATCH_LIMIT = 10_000


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


def mismatches(left: Any, right: Any, names: tuple[str, str], path: str = "$", limit: int = 10) -> list[str]:
    """Where two representations differ, in either direction (``names`` say which is which)."""
    found: list[str] = []
    _mismatch(left, right, path, found, names)
    return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])


def _mismatch(left: Any, right: Any, path: str, found: list[str], names: tuple[str, str], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        found.append(f"{path}: nested more than {MAX_DEPTH} levels deep, not compared further")
        return
    if isinstance(left, dict) and isinstance(right, dict):
        for key in dict.fromkeys([*left, *right]):
            child = join(path, key)
            if key not in right:
                found.append(f"{child}: only in {names[0]} ({short(left[key])})")
            elif key not in left:
                found.append(f"{child}: only in {names[1]} ({short(right[key])})")
            else:
                _mismatch(left[key], right[key], child, found, names, depth + 1)
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        if len(left) * len(right) > MATCH_LIMIT:  # too many pairs to match: compared in order
            for i, (a, b) in enumerate(zip(left, right, strict=True)):
                _mismatch(a, b, join(path, i), found, names, depth + 1)
            return
        fits = [[j for j, b in enumerate(right) if not mismatches(a, b, names, limit=1)] for a in left]
        pairing = _pair(fits)
        free = [j for j in range(len(right)) if j not in pairing.values()]
        for i in (i for i in range(len(left)) if i not in pairing):
            _mismatch(left[i], right[free.pop(0)], join(path, i), found, names, depth + 1)
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


def _patch_diff(patch: Any, actual: Any, path: str, found: list[str], depth: int = 0) -> None:
    if not (isinstance(patch, dict) and isinstance(actual, dict)) or depth > MAX_DEPTH:
        _diff(patch, actual, path, found, depth)
        return
    for key, value in patch.items():
        child = join(path, key)
        if value is None:
            if key in actual:
                found.append(f"{child}: still {short(actual[key])}, but the patch removes it (null)")
        elif key not in actual:
            found.append(f"{child}: missing (sent {short(value)})")
        else:
            _patch_diff(value, actual[key], child, found, depth + 1)


def contains(expected: Any, actual: Any) -> bool:
    return not differences(expected, actual, limit=1)


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
            _diff_items(expected, actual, path, found, depth + 1)
    elif not same_scalar(expected, actual):
        found.append(f"{path}: expected {short(expected)}, got {short(actual)}")


def _diff_items(expected: list[Any], actual: list[Any], path: str, found: list[str], depth: int) -> None:
    """Items compared regardless of position: no TMF699 array is ordered (a note, a party, a
    contact medium is an unordered member), so a server may return them in any order."""
    positional: list[str] = []
    for index, (exp, act) in enumerate(zip(expected, actual, strict=True)):
        _diff(exp, act, join(path, index), positional, depth)
    if not positional:
        return
    if len(expected) * len(actual) > MATCH_LIMIT:  # too many pairs to match: the order counts
        found.extend(positional)
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
        _diff(expected[i], actual[best], join(path, i), found, depth)


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
        return copy_json(patch)
    result = copy_json(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result

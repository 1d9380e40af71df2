"""TMF630 query semantics over stored leads: attribute filters, fields selection, paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

OPERATORS = ("eq", "gt", "gte", "lt", "lte")


class QueryError(ValueError):
    """The query cannot be applied (unknown operator, bad offset); answered with 400."""


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None


def _values_at(item: Any, path: list[str]) -> list[Any]:
    """Values at a dotted path; arrays fan out (relatedParty.role matches any party)."""
    if not path:
        return item if isinstance(item, list) else [item]
    if isinstance(item, list):
        return [v for element in item for v in _values_at(element, path)]
    if isinstance(item, dict) and path[0] in item:
        return _values_at(item[path[0]], path[1:])
    return []


# how ?attr=text compares with a string attribute: equality, and the near misses of the faults
TEXT_MATCH: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda actual, wanted: actual == wanted,
    "substring": lambda actual, wanted: wanted in actual,
    "casefold": lambda actual, wanted: actual.casefold() == wanted.casefold(),
    "prefix": lambda actual, wanted: actual.startswith(wanted),
}


def _compare(actual: Any, wanted: str, op: str, text: str = "exact") -> bool:
    if op == "eq":
        if isinstance(actual, bool):
            return str(actual).lower() == wanted.lower()
        if isinstance(actual, int | float):
            try:
                return float(actual) == float(wanted)
            except ValueError:
                return False
        left, right = _as_datetime(actual), _as_datetime(wanted)
        if left is not None and right is not None:
            return left == right
        return isinstance(actual, str) and TEXT_MATCH[text](actual, wanted)
    left, right = _as_datetime(actual), _as_datetime(wanted)
    if left is None or right is None:
        try:
            left, right = float(actual), float(wanted)  # type: ignore[assignment]
        except (TypeError, ValueError):
            return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]  # type: ignore[operator]


def parse_filters(
    params: list[tuple[str, str]], reserved: set[str], *, or_values: bool = True, operators: bool = True
) -> list[tuple[list[str], str, list[str]]]:
    """``attr=x``, ``attr=x,y`` (OR), ``attr.gt=x``; the flags switch features off (for faults)."""
    filters = []
    for key, value in params:
        if key in reserved:
            continue
        segments = key.split(".")
        op = "eq"
        if len(segments) > 1 and segments[-1] in OPERATORS:
            op = segments.pop()
            if not operators:
                op = "eq"  # the fault: the operator is dropped and the value compared for equality
        elif len(segments) > 1 and segments[-1] in ("like", "regex", "ne"):
            raise QueryError(f"operator .{segments[-1]} is not supported")
        filters.append((segments, op, value.split(",") if or_values else [value]))
    return filters


def matches(item: dict[str, Any], filters: list[tuple[list[str], str, list[str]]], text: str = "exact") -> bool:
    for path, op, options in filters:
        values = _values_at(item, path)
        if not any(_compare(v, option, op, text) for v in values for option in options):
            return False
    return True


def _sort_value(value: Any) -> tuple[int, Any]:
    moment = _as_datetime(value)
    if moment is not None:
        return (0, moment.timestamp())
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return (2, str(value))
    return (1, value) if isinstance(value, str) else (0, float(value))


def sort_items(items: list[dict[str, Any]], spec: str, known: set[str],
               descending: bool = True) -> list[dict[str, Any]]:
    """``sort=a,-b``: by a ascending, then b descending; leads without the attribute come last.
    ``descending=False`` drops the '-' (a fault)."""
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    for key in reversed(keys):  # stable sorts, least significant key first
        name = key.lstrip("+-")
        if name not in known:
            raise QueryError(f"cannot sort on unknown attribute {name!r}")
        reverse = key.startswith("-") and descending
        present = [i for i in items if i.get(name) is not None]
        absent = [i for i in items if i.get(name) is None]
        items = sorted(present, key=lambda i: _sort_value(i[name]), reverse=reverse) + absent
    return items


def select_fields(item: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if fields is None:
        return item
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    keep = {"id", "href"} | (set() if wanted == {"none"} else wanted)
    return {k: v for k, v in item.items() if k in keep}


def page(items: list[Any], offset: str | None, limit: str | None, skew: str | None = None) -> tuple[list[Any], bool]:
    """Apply offset/limit; also say whether the page is partial (206). ``skew``: how a faulty
    server misreads offset ("page": as a page number, "plus-one": one item too far)."""
    try:
        start = int(offset) if offset is not None else 0
        size = int(limit) if limit is not None else None
    except ValueError as exc:
        raise QueryError("offset and limit must be integers") from exc
    if start < 0 or (size is not None and size < 0):
        raise QueryError("offset and limit must not be negative")
    if skew == "page" and size is not None:
        start *= size
    elif skew == "plus-one" and start > 0:
        start += 1
    end = len(items) if size is None else start + size
    chunk = items[start:end]
    return chunk, len(chunk) < len(items)

"""JSON from a server, parsed with a nesting limit and a size limit.

Everything downstream of a parsed body (comparisons, messages, schema validation, templates,
masking) walks it recursively; a body nested deeper than any TMF resource could be is refused
here, once, with a clear reason, instead of a ``RecursionError`` somewhere later. A body of
millions of tiny values (``[{},{},...]``: 15 MiB of text, 360 MiB once parsed) is refused before
it is parsed: the kit's memory bound depends on it.
"""

from __future__ import annotations

import copy
import json
from typing import Any, TypeVar, cast

MAX_DEPTH = 100  # a TMF699 lead is about 6 levels deep; 100 leaves room and stays far from the stack limit
# values (counted as commas and opening brackets, an upper bound): at most ~60 MiB once parsed,
# while a list of 20 000 full leads (~400 000) still fits
MAX_VALUES = 1_000_000


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


# json.loads also takes NaN, Infinity and -Infinity, which no JSON parser elsewhere accepts, and which
# no comparison can match (NaN is not equal to itself)
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


class TooDeep(ValueError):
    """The JSON text nests arrays and objects deeper than ``MAX_DEPTH``."""


class TooMany(ValueError):
    """The JSON text holds more than ``MAX_VALUES`` values."""


def loads(text: str | bytes, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """``json.loads`` that raises ``TooDeep`` or ``TooMany`` (ValueErrors), never ``RecursionError``
    and never more than a bounded amount of memory."""
    if len(text) > max_values:
        if isinstance(text, bytes):
            values = text.count(b",") + text.count(b"{") + text.count(b"[")
        else:
            values = text.count(",") + text.count("{") + text.count("[")
        if values > max_values:
            raise TooMany(f"JSON with too many values to examine (about {values:,}; the limit is {max_values:,})")
    if isinstance(text, bytes):  # as json.loads reads bytes (UTF-8, -16 or -32, told by the first bytes)
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    try:
        data = _DECODER.decode(text)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {max_depth} levels deep (too deep to examine)") from None
    except ValueError as exc:
        if "int_max_str_digits" in str(exc):  # Python's advice is for Python programmers, not for the report
            raise ValueError("JSON with an integer of more than 4,300 digits (too long to examine)") from None
        raise
    # a text with at most max_depth opening brackets cannot nest deeper (most bodies): not walked
    if _openings(text) > max_depth and depth_exceeds(data, max_depth):
        raise TooDeep(f"JSON nested more than {max_depth} levels deep (too deep to examine)")
    return data


def _openings(text: str | bytes) -> int:
    """Opening brackets in the text (those inside strings too): at least as many as its containers."""
    if isinstance(text, bytes):
        return text.count(b"{") + text.count(b"[")
    return text.count("{") + text.count("[")


def depth_exceeds(data: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``data`` nests containers deeper than ``max_depth`` (iterative: no recursion)."""
    if not isinstance(data, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


_SCALARS = frozenset({str, int, float, bool, type(None)})
_T = TypeVar("_T")


def copy_json(value: _T) -> _T:
    """A deep copy of JSON data (dicts, lists, scalars), several times faster than
    ``copy.deepcopy``, which the reference server and the merge-patch model call for every lead
    they serve or patch. Anything else inside is deep-copied as usual."""
    return cast(_T, _copy(value))


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)

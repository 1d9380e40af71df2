"""JSON from a server, parsed with a nesting limit.

Everything downstream of a parsed body (comparisons, messages, schema validation, templates,
masking) walks it recursively; a body nested deeper than any TMF resource could be is refused
here, once, with a clear reason, instead of a ``RecursionError`` somewhere later.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100  # a TMF699 lead is about 6 levels deep; 100 leaves room and stays far from the stack limit


class TooDeep(ValueError):
    """The JSON text nests arrays and objects deeper than ``MAX_DEPTH``."""


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ``TooDeep`` (a ValueError) rather than ``RecursionError``."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {max_depth} levels deep (too deep to examine)") from None
    if depth_exceeds(data, max_depth):
        raise TooDeep(f"JSON nested more than {max_depth} levels deep (too deep to examine)")
    return data


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

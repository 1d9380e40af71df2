"""JSON paths in scenarios (``save`` and the CTK-JSON-01 assertion): RFC 9535, by python-jsonpath.

A singular query (``$.a.b``, ``$.note[0]``, ``$['@type']``) selects one value; any other query
(``$.note[*].text``, ``$..id``, ``$.note[?@.role == 'x']``) selects the list of every match.

Most paths in scenarios are ``$`` or a chain of plain member names (``$.id``, ``$.validFor.end``):
those are walked here, as RFC 9535 selects them, and the library (whose import compiles large
Unicode patterns, ~25 ms) is loaded only for a path that needs it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonpath import JSONPath, JSONPathEnvironment, JSONPathError

# `$` and dot-notation member names of ASCII letters, digits and _ (RFC 9535 2.5.1.1 shorthand): a
# singular query whose every segment selects one member of an object
_PLAIN = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@lru_cache(maxsize=1)
def _env() -> JSONPathEnvironment:
    from jsonpath import JSONPathEnvironment

    # strict: RFC 9535 only, none of the library's extensions, so a scenario means the same everywhere
    return JSONPathEnvironment(strict=True)


class JSONPathProblem(ValueError):
    """A JSON path that is not valid RFC 9535 syntax (a scenario mistake, not a server failure)."""


def _explain(path: str, exc: JSONPathError) -> str:
    message = str(exc.args[0]) if exc.args else str(exc)
    token = getattr(exc, "token", None)
    at = getattr(token, "index", -1)
    where = f" at character {at + 1}" if isinstance(at, int) and at >= 0 else ""
    hint = ""
    if re.search(r"\.[^A-Za-z_\[*.\s]", path):
        hint = " (a name that starts with another character needs brackets: $['@type'])"
    elif not path.startswith("$"):
        hint = " (a JSON path starts with $)"
    return f"JSON path {path!r}: {message}{where}{hint}"


@lru_cache(maxsize=1024)
def compile_path(path: str) -> JSONPath:
    """The compiled query; JSONPathProblem with the position of a syntax error."""
    from jsonpath import JSONPath, JSONPathError

    try:
        query = _env().compile(path)
    except JSONPathError as exc:
        raise JSONPathProblem(_explain(path, exc)) from None
    if not isinstance(query, JSONPath):  # a union (`|`) or intersection is not RFC 9535
        raise JSONPathProblem(f"JSON path {path!r}: not an RFC 9535 query")
    for function, pattern in _patterns(query):
        try:
            re.compile(pattern)
        except re.error as exc:
            # match()/search() would quietly select nothing: the scenario's mistake would look like the server's
            raise JSONPathProblem(f"JSON path {path!r}: invalid regular expression {pattern!r} in {function}(): "
                                  f"{exc}") from None
    return query


def _patterns(query: JSONPath) -> list[tuple[str, str]]:
    """(function, pattern) of every match()/search() with a literal pattern, nested filters included."""
    from jsonpath import JSONPath

    found: list[tuple[str, str]] = []

    def visit(node: Any) -> None:
        if type(node).__name__ == "FunctionExtension" and getattr(node, "name", "") in ("match", "search"):
            args = list(getattr(node, "args", ()))
            if len(args) > 1 and type(args[1]).__name__ == "StringLiteral":
                found.append((node.name, str(args[1].value)))
        nested = getattr(node, "query", None)
        if isinstance(nested, JSONPath):
            walk(nested)
        for child in node.children():
            visit(child)

    def walk(q: JSONPath) -> None:
        for segment in q.segments:
            for selector in segment.selectors:
                expression = getattr(selector, "expression", None)
                if expression is not None:
                    visit(expression)

    walk(query)
    return found


def syntax_error(path: str) -> str | None:
    """Why ``path`` is not a valid JSON path, or None."""
    if _PLAIN.fullmatch(path):
        return None
    try:
        compile_path(path)
    except JSONPathProblem as exc:
        return str(exc)
    return None


def is_singular(path: str) -> bool:
    return bool(_PLAIN.fullmatch(path)) or compile_path(path).singular_query()


def get(document: Any, path: str) -> Any:
    """The value at a singular ``path`` (KeyError naming the first missing step when absent), or
    the list of values a non-singular path matches (KeyError when it matches nothing)."""
    if _PLAIN.fullmatch(path):
        current, walked = document, "$"
        for name in path.split(".")[1:]:
            walked = join(walked, name)
            if not isinstance(current, dict) or name not in current:
                raise KeyError(f"{walked} does not exist")
            current = current[name]
        return current
    query = compile_path(path)
    values = [match.obj for match in query.finditer(document)]
    if query.singular_query():
        if not values:
            raise KeyError(f"{_first_missing(document, query)} does not exist")
        return values[0]
    if not values:
        raise KeyError(f"{path} matches nothing")
    return values


def _first_missing(document: Any, query: JSONPath) -> str:
    """The shortest prefix of a singular query that selects nothing, written like ``$.a.b[0]``."""
    current, walked = document, "$"
    for segment in query.segments:
        selector = segment.selectors[0]
        name = getattr(selector, "name", None)
        key: str | int = name if isinstance(name, str) else int(getattr(selector, "index", 0))
        walked = join(walked, key)
        listed = isinstance(key, int) and isinstance(current, list) and -len(current) <= key < len(current)
        named = isinstance(key, str) and isinstance(current, dict) and key in current
        if not (listed or named):
            return walked
        current = current[key]
    return walked


def join(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if re.fullmatch(r"[A-Za-z_][\w-]*", key) else f"{base}['{key}']"

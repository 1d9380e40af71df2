"""Indented JSON text, exactly as ``json.dumps(value, indent=2, ensure_ascii=False)`` writes it.

The standard library has no C encoder for indented output: it uses its pure-Python one, a tree
of nested generators (~12 ms for a full run's results.json, ~10 ms more for the bodies shown in
the report). This builds the same text by appending to a list, about twice as fast. The strings,
numbers and key conversions are the standard library's own (``encode_basestring``,
``float.__repr__``, ``int.__repr__``, NaN and Infinity allowed); ``tests/test_perf_jsontext.py``
compares the two on generated documents.

The values are trees (results, parsed bodies): unlike ``json.dumps`` there is no check for
circular references (one would end in ``RecursionError``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

_STRING: Callable[[str], str] = json.encoder.encode_basestring  # the C function when built
_INFINITY = float("inf")
# ``dump`` holds at most _PIECES parts (each under _DIRECT characters) before writing them out, and
# writes a longer string (a body) on its own, as json.dump does every piece: its peak memory stays
# that of the standard library's, a few MB at most beside the document
_PIECES = 2048
_DIRECT = 2048


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _encode(value: Any, indent: str, parts: list[str], write: Callable[[str], object] | None) -> None:
    append = parts.append

    def flush() -> None:
        assert write is not None
        write("".join(parts))
        parts.clear()

    def encode(value: Any, newline: str) -> None:
        if isinstance(value, str):
            text = _STRING(value)
            if write is not None and len(text) >= _DIRECT:
                flush()
                write(text)
            else:
                append(text)
        elif value is None:
            append("null")
        elif value is True:
            append("true")
        elif value is False:
            append("false")
        elif isinstance(value, int):
            append(int.__repr__(value))
        elif isinstance(value, float):
            append(_float(value))
        elif isinstance(value, list | tuple):
            if not value:
                append("[]")
                return
            inner = newline + indent
            separator = "[" + inner
            for item in value:
                append(separator)
                separator = "," + inner
                encode(item, inner)
                if write is not None and len(parts) >= _PIECES:
                    flush()
            append(newline + "]")
        elif isinstance(value, dict):
            if not value:
                append("{}")
                return
            inner = newline + indent
            separator = "{" + inner
            for key, item in value.items():
                append(separator + _STRING(_key(key)) + ": ")
                separator = "," + inner
                encode(item, inner)
                if write is not None and len(parts) >= _PIECES:
                    flush()
            append(newline + "}")
        else:
            raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    encode(value, "\n")


def dumps(value: Any, indent: int = 2) -> str:
    """``json.dumps(value, indent=indent, ensure_ascii=False)``."""
    parts: list[str] = []
    _encode(value, " " * indent, parts, None)
    return "".join(parts)


def dump(value: Any, out: TextIO, indent: int = 2) -> None:
    """``json.dump(value, out, indent=indent, ensure_ascii=False)``, written in pieces: the text of a
    large run is never held whole in memory."""
    parts: list[str] = []
    _encode(value, " " * indent, parts, out.write)
    out.write("".join(parts))

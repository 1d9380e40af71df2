"""JSON paths: the plain ones (``$``, ``$.a.b``) are walked by the kit without python-jsonpath;
they must select exactly what the library selects, and fail with the same message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tmf699ctk import _jsonpath

DOCUMENTS = [
    {"id": "L1", "validFor": {"startDateTime": "2026-01-01T00:00:00Z"}, "note": [{"text": "a"}], "n": None},
    {"id": {"id": "nested"}, "_private": 1, "a1": {"b_2": {"c": [1, 2]}}},
    [{"id": "in a list"}],
    "text",
    None,
    {},
]
PLAIN = ["$", "$.id", "$.id.id", "$.validFor", "$.validFor.startDateTime", "$.validFor.missing", "$.missing.deeper",
         "$.note", "$.n", "$.n.x", "$._private", "$.a1.b_2.c", "$.a1.b_2.c.d"]


def _library(document: object, path: str) -> object:
    """What python-jsonpath selects, the way _jsonpath.get reports it."""
    query = _jsonpath.compile_path(path)
    values = [match.obj for match in query.finditer(document)]
    assert query.singular_query()
    if not values:
        raise KeyError(f"{_jsonpath._first_missing(document, query)} does not exist")
    return values[0]


@pytest.mark.parametrize("path", PLAIN)
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: type(d).__name__)
def test_a_plain_path_selects_what_the_library_selects(document: object, path: str) -> None:
    assert _jsonpath._PLAIN.fullmatch(path)
    try:
        expected: object = _library(document, path)
    except KeyError as exc:
        with pytest.raises(KeyError) as got:
            _jsonpath.get(document, path)
        assert got.value.args == exc.args
    else:
        assert _jsonpath.get(document, path) == expected
        assert _jsonpath.get(document, path) is expected or expected is None  # the value itself, not a copy
    assert _jsonpath.is_singular(path) and _jsonpath.syntax_error(path) is None


@pytest.mark.parametrize("path", ["$['id']", "$.note[0]", "$..id", "$.é", "$.a-b", "$.1a", "$ .id", "$.id.", "id"])
def test_anything_else_goes_to_the_library(path: str) -> None:
    assert not _jsonpath._PLAIN.fullmatch(path)


def test_a_syntax_error_is_still_the_librarys_message() -> None:
    assert "JSON path '$.id.'" in (_jsonpath.syntax_error("$.id.") or "")
    assert "starts with $" in (_jsonpath.syntax_error("id") or "")


def test_plain_paths_need_no_library() -> None:
    code = ("import sys\nfrom tmf699ctk import _jsonpath as j\n"
            "assert j.get({'a': {'b': 1}}, '$.a.b') == 1 and j.syntax_error('$.a') is None and j.is_singular('$')\n"
            "print('jsonpath' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert _jsonpath.get({"note": [{"text": "t"}]}, "$.note[0].text") == "t"  # and the others still work

"""The indented JSON encoder (``_jsontext``) writes what ``json.dumps(indent=2, ensure_ascii=False)``
writes, byte for byte: results.json and the report's bodies depend on it (``verify`` re-renders)."""

from __future__ import annotations

import io
import json
import math
import random
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

import pytest

from tmf699ctk import _jsontext
from tmf699ctk._results import Level

from .reportdata import sample_run


class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    BIG = 7


STRINGS = ["", "a", "é", "\u2028", "\x00\x1f\x7f", '"\\/', "\ud800", "😀", "tab\there", "line\nbreak", "</script>",
           "\ufeff", "long " * 50]
NUMBERS: list[Any] = [0, -1, 2**70, -(2**64), 0.0, -0.0, 1.5, 1e308, 5e-324, 1e16, 0.1 + 0.2, math.nan, math.inf,
                      -math.inf, True, False, None, Size.BIG, Colour.RED, Level.MANDATORY]
KEYS: list[Any] = ["k", "", "é", "\n", 1, -2, 2**65, 1.5, math.nan, math.inf, True, False, None]


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.random()
    if depth > 5 or kind < 0.45:
        return rng.choice(STRINGS + NUMBERS)
    size = rng.choice([0, 1, 2, 3, 6])
    if kind < 0.6:
        return tuple(_value(rng, depth + 1) for _ in range(size))
    if kind < 0.8:
        return [_value(rng, depth + 1) for _ in range(size)]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(size)}


@pytest.mark.parametrize("seed", range(300))
def test_generated_documents_are_written_as_json_dumps_writes_them(seed: int) -> None:
    value = _value(random.Random(seed), 0)
    expected = json.dumps(value, indent=2, ensure_ascii=False)
    assert _jsontext.dumps(value) == expected
    out = io.StringIO()
    _jsontext.dump(value, out)
    assert out.getvalue() == expected


@pytest.mark.parametrize("indent", [0, 1, 4])
def test_other_indents_too(indent: int) -> None:
    value = _value(random.Random(indent), 0)
    assert _jsontext.dumps({"v": value, "w": [value]}, indent) == json.dumps({"v": value, "w": [value]},
                                                                             indent=indent, ensure_ascii=False)


def test_a_large_document_is_written_in_pieces_with_the_same_text() -> None:
    value = {"items": [{"id": str(i), "n": i, "tags": ["a", "b"], "x": {"y": [i, None]}} for i in range(20_000)]}
    chunks: list[str] = []

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            chunks.append(text)
            return len(text)

    _jsontext.dump(value, Out())
    assert len(chunks) > 10 and "".join(chunks) == json.dumps(value, indent=2, ensure_ascii=False)


def test_a_run_and_its_bodies_are_written_as_before() -> None:
    run = sample_run(200)
    run.finish()
    data = run.to_dict()
    assert _jsontext.dumps(data) == json.dumps(data, indent=2, ensure_ascii=False)
    for exchange in run.exchanges():
        for body in (exchange.request.body, exchange.response.body if exchange.response else None):
            if body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    continue
                assert _jsontext.dumps(parsed) == json.dumps(parsed, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("value", [{"k": object()}, [Path("x")], {(1, 2): "tuple key"}, {b"k": 1}, b"bytes"])
def test_what_json_refuses_is_refused_with_the_same_error(value: Any) -> None:
    with pytest.raises(TypeError) as expected:
        json.dumps(value, indent=2, ensure_ascii=False)
    with pytest.raises(TypeError) as got:
        _jsontext.dumps(value)
    assert str(got.value) == str(expected.value)


def test_copy_json_is_a_deep_copy_of_json_data_and_falls_back_to_deepcopy_for_the_rest() -> None:
    from tmf699ctk._safejson import copy_json, loads

    lead = loads('{"id": "1", "note": [{"text": "a", "n": 1.5}], "validFor": {"x": null}, "ok": true}')
    copied = copy_json(lead)
    assert copied == lead and type(copied["ok"]) is bool
    copied["note"][0]["text"] = "changed"
    copied["validFor"]["x"] = 1
    assert lead["note"][0]["text"] == "a" and lead["validFor"]["x"] is None  # nothing shared
    odd = {"when": (1, [2]), "set": {3}}
    again = copy_json(odd)
    assert again == odd and again["when"][1] is not odd["when"][1] and again["set"] is not odd["set"]

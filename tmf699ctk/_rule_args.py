"""The JSON Schema of each rule's arguments, so a mistyped argument is a ``validate`` error.

Derived from the check function's type hints where they say everything (``int``, ``list[str]``,
``dict[str, Any]``, ``X | None``); given explicitly below where they do not (a status code's
range, a JSON path, a regular expression). Arguments whose value is a template are checked once
rendered, at run time.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from . import _checks as c
from . import _jsonpath
from ._rules import Rule

JSON_TYPE_NAMES = ["object", "array", "string", "number", "boolean", "null"]
_STATUS = {"type": "integer", "minimum": 100, "maximum": 599}

# check function -> argument -> schema, where the type hint alone is not exact
EXPLICIT: dict[Callable[..., Any], dict[str, dict[str, Any]]] = {
    c.status_in: {"expected": {"anyOf": [_STATUS, {"type": "array", "items": _STATUS, "minItems": 1}]}},
    c.json_path: {
        "path": {"type": "string", "format": "json-path"},
        "equals": {},
        "type": {"enum": JSON_TYPE_NAMES},
        "matches": {"type": "string", "format": "regex"},
        "length": {"type": "integer", "minimum": 0},
    },
    c.header: {
        "name": {"type": "string", "pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
        "matches": {"type": "string", "format": "regex"},
    },
    c.page_size: {"limit": {"type": "integer", "minimum": 0}, "at_least": {"type": ["integer", "null"], "minimum": 0}},
    c.count_headers_consistent: {"total": {"type": ["integer", "null"], "minimum": 0}},
    c.filtered: {"where": {"type": "object", "minProperties": 1,
                           "propertyNames": {"pattern": r"^[^.]+(\.(eq|gt|gte|lt|lte))?$"}}},
}

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("json-path", raises=_jsonpath.JSONPathProblem)
def _is_json_path(value: object) -> bool:
    if isinstance(value, str) and (problem := _jsonpath.syntax_error(value)) is not None:
        raise _jsonpath.JSONPathProblem(problem)
    return True


@_FORMATS.checks("regex", raises=re.error)
def _is_regex(value: object) -> bool:
    if isinstance(value, str):
        re.compile(value)
    return True


class UnknownHint(TypeError):
    """A type hint this module cannot turn into a JSON Schema (give the argument an explicit one)."""


def _from_hint(hint: Any) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint is type(None) or hint is None:
        return {"type": "null"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        options = [_from_hint(a) for a in args]
        kinds = [o.get("type") for o in options]
        if all(isinstance(k, str) and len(o) == 1 for k, o in zip(kinds, options, strict=True)):
            return {"type": kinds}  # int | None -> ["integer", "null"]
        return {"anyOf": options}
    if origin is list:
        return {"type": "array", **({"items": _from_hint(args[0])} if args and args[0] is not Any else {})}
    if origin is dict:
        value = _from_hint(args[1]) if len(args) == 2 else {}
        return {"type": "object", **({"additionalProperties": value} if value else {})}
    if origin is typing.Literal:
        return {"enum": list(args)}
    raise UnknownHint(f"no JSON Schema for the type hint {hint!r}")


def _parameters(check: Callable[..., Any]) -> list[inspect.Parameter]:
    return [p for name, p in inspect.signature(check).parameters.items() if name != "ctx"]


@cache
def _schema_of(check: Callable[..., Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(check)
    explicit = EXPLICIT.get(check, {})
    properties: dict[str, Any] = {}
    for p in _parameters(check):
        properties[p.name] = explicit[p.name] if p.name in explicit else _from_hint(hints.get(p.name, Any))
    required = [p.name for p in _parameters(check) if p.default is p.empty]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


@cache
def _validator(check: Callable[..., Any], name: str) -> Validator:
    """Built once per argument: every expectation of every run checks its arguments."""
    return Draft202012Validator(_schema_of(check)["properties"][name], format_checker=_FORMATS)


def argument_schema(rule: Rule) -> dict[str, Any]:
    """The JSON Schema of ``rule``'s arguments (the expectation's keys other than rule and level)."""
    return _schema_of(rule.check)


def _describe(schema: dict[str, Any]) -> str:
    """A schema in words: 'an integer from 100 to 599, or a list of them'."""
    if "anyOf" in schema:
        return " or ".join(_describe(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    kinds = schema.get("type")
    if kinds is None:
        return "any value"
    words = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
             "object": "a mapping", "array": "a list", "null": "null"}
    text = " or ".join(words[k] for k in ([kinds] if isinstance(kinds, str) else kinds))
    if "minimum" in schema and "maximum" in schema:
        text += f" from {schema['minimum']} to {schema['maximum']}"
    elif "minimum" in schema:
        text += f" of at least {schema['minimum']}"
    if kinds == "array" and isinstance(schema.get("items"), dict) and schema["items"]:
        text += f" of {_plural(_describe(schema['items']))}"
    if schema.get("format") == "json-path":
        text += " holding a JSON path (RFC 9535)"
    elif schema.get("format") == "regex":
        text += " holding a regular expression"
    return text


def _plural(text: str) -> str:
    for single, plural in (("an integer", "integers"), ("a string", "strings"), ("a number", "numbers"),
                           ("a mapping", "mappings"), ("a list", "lists")):
        if text.startswith(single):
            return plural + text[len(single):]
    return text


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _message(name: str, value: Any, error: ValidationError, schema: dict[str, Any]) -> str:
    if error.validator == "format" and error.cause is not None:
        return f"{name}: {error.cause}" if isinstance(error.cause, _jsonpath.JSONPathProblem) \
            else f"{name}: invalid regular expression {value!r}: {error.cause}"
    inner = "".join(f"[{p!r}]" for p in error.absolute_path)
    if inner:
        return f"{name}{inner}: {error.message}"
    if error.validator in ("type", "enum", "anyOf", "minimum", "maximum"):
        return f"{name} is {value!r} ({_kind(value)}); expected {_describe(schema)}"
    return f"{name}: {error.message}"


class ArgumentProblem(NamedTuple):
    name: str
    message: str
    syntax: bool  # the value is of the right type, but not a valid JSON path or regular expression


def argument_problems(rule: Rule, args: dict[str, Any]) -> list[ArgumentProblem]:
    """Each argument in ``args`` that its schema refuses."""
    properties = argument_schema(rule)["properties"]
    problems = []
    for name, value in args.items():
        schema = properties.get(name)
        if schema is None:
            continue  # unknown names are reported by the scenario loader, with the accepted ones
        errors = sorted(_validator(rule.check, name).iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            first = errors[0]
            problems.append(ArgumentProblem(name, _message(name, value, first, schema), first.validator == "format"))
    return problems


def placeholder_problems(rule: Rule, name: str) -> str | None:
    """For an argument written as text with a template inside (not a whole ``{{ expr }}``): it
    renders to a string, so the argument must accept one."""
    schema = argument_schema(rule)["properties"].get(name)
    if schema is None:
        return None
    if any(e.validator in ("type", "enum", "anyOf") for e in Draft202012Validator(schema).iter_errors("x")):
        return f"{name} is text with a template inside, which renders to a string; expected {_describe(schema)}"
    return None

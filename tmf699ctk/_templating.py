"""Sandboxed templating of scenario and config values.

Templates see only the values handed to them (saved step values, config payloads, run
identifiers). The jinja2 sandbox forbids access to internals (``__class__``, ``__globals__``),
there is no loader (no ``include``/``import`` of files) and undefined names are errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import suppress
from functools import lru_cache
from typing import Any

from jinja2 import DictLoader, StrictUndefined, TemplateError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_WHOLE = re.compile(r"^\s*\{\{\s*(.+?)\s*\}\}\s*$", re.S)

# An empty loader: ``include``/``import``/``extends`` find nothing, so no file can be read.
_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, loader=DictLoader({}))
_env.globals.clear()


class TemplateProblem(Exception):
    """A template could not be rendered.

    ``author`` is True for the scenario author's mistakes (syntax, a refused construct, a name
    nothing defines) and False when the data was not what the template expected (a saved
    response without the attribute read, a value of another type).
    """

    def __init__(self, message: str, author: bool = True) -> None:
        super().__init__(message)
        self.author = author


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every string in ``value``; a string that is exactly ``{{ expr }}`` keeps the
    expression's native type (so a payload object stays an object)."""
    if isinstance(value, str):
        return _render_string(value, context)
    if isinstance(value, dict):
        return {render(k, context): render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


@lru_cache(maxsize=4096)
def _compiled(text: str) -> tuple[bool, Any]:
    """(is a whole expression, compiled callable); compiling dominates rendering, so cache it."""
    whole = _WHOLE.match(text)
    if whole and "}}" not in whole.group(1):
        return True, _env.compile_expression(whole.group(1), undefined_to_none=False)
    return False, _env.from_string(text)


def _render_string(text: str, context: dict[str, Any]) -> Any:
    if "{{" not in text and "{%" not in text:
        return text
    try:
        expression, compiled = _compiled(text)
        if expression:
            result = compiled(**context)
            if isinstance(result, StrictUndefined):
                str(result)  # raises UndefinedError with the missing name
            return result
        return compiled.render(**context)
    except SecurityError as exc:
        raise TemplateProblem(f"forbidden in template {text!r}: {exc}") from exc
    except UndefinedError as exc:
        # every name a scenario reads is checked when it is loaded (`undefined_names`): one missing
        # now was not saved (its step was skipped) or the saved answer lacks the attribute read
        raise TemplateProblem(f"cannot render {text!r}: {exc.message or exc}", author=False) from exc
    except TemplateError as exc:
        raise TemplateProblem(f"cannot render {text!r}: {exc.message or exc}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem(f"cannot render {text!r}: {type(exc).__name__}: {exc}", author=False) from exc


def has_template(text: Any) -> bool:
    return isinstance(text, str) and ("{{" in text or "{%" in text)


def is_whole_expression(text: str) -> bool:
    """``{{ expr }}`` alone: it renders to the expression's own type, not to a string."""
    whole = _WHOLE.match(text)
    return bool(whole and "}}" not in whole.group(1))


def check_syntax(text: str) -> str | None:
    """Return a syntax error message for a template string (unknown filters and tests included), or None."""
    try:
        whole = _WHOLE.match(text)
        if whole and "}}" not in whole.group(1):
            _env.compile_expression(whole.group(1))
        else:
            _env.compile(text)
    except TemplateError as exc:
        return str(exc.message or exc)
    return None


# -- static analysis, for `validate`: what a template needs and what the sandbox would refuse -------

# methods the immutable sandbox refuses to call (they modify a value); as jinja2.sandbox lists them
_MUTATING = frozenset({
    "append", "appendleft", "clear", "difference_update", "discard", "extend", "extendleft", "insert",
    "intersection_update", "pop", "popitem", "popleft", "remove", "reverse", "rotate", "setdefault", "sort",
    "symmetric_difference_update", "update", "add",
})


@lru_cache(maxsize=4096)
def undeclared_names(text: str) -> frozenset[str]:
    """The names a template reads from its context (empty for a syntax error: reported apart)."""
    try:
        return frozenset(meta.find_undeclared_variables(_env.parse(text)))
    except TemplateError:
        return frozenset()


def undefined_names(text: str, defined: Iterable[str]) -> list[str]:
    """The names ``text`` reads that ``defined`` does not provide, in order of first use."""
    missing = undeclared_names(text) - set(defined)
    return sorted(missing, key=lambda name: (text.find(name), name))


def sandbox_refusals(text: str) -> list[str]:
    """Constructs the sandbox refuses at render time, found before anything is sent."""
    try:
        tree = _env.parse(text)
    except TemplateError:
        return []
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter, nodes.Include,
                               nodes.Import, nodes.FromImport, nodes.Extends)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            found.append(f"reads the private attribute {node.attr}")
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            found.append(f"reads the private attribute {node.arg.value}")
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args \
                and isinstance(node.args[0], nodes.Const) and str(node.args[0].value).startswith("_"):
            found.append(f"reads the private attribute {node.args[0].value}")
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr in _MUTATING:
            found.append(f"calls {node.node.attr}(), which would modify a value (templates are read-only)")
        elif isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
            kind = {nodes.Include: "include", nodes.Extends: "extends"}.get(type(node), "import")
            found.append(f"uses {{% {kind} %}}: templates cannot read other files")
    return list(dict.fromkeys(found))


def templates_in(value: Any) -> Iterable[str]:
    """Every template string inside ``value`` (keys included)."""
    if isinstance(value, str):
        if has_template(value):
            yield value
    elif isinstance(value, Mapping):
        for key, sub in value.items():
            yield from templates_in(key)
            yield from templates_in(sub)
    elif isinstance(value, list | tuple):
        for sub in value:
            yield from templates_in(sub)
def names_used(value: Any) -> set[str]:
    """Every variable a value's templates read (for dependency checks before running)."""
    from jinja2 import meta

    found: set[str] = set()
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            with suppress(TemplateError):  # a syntax error is check_syntax's to report
                found |= meta.find_undeclared_variables(_env.parse(value))
    elif isinstance(value, dict):
        for key, sub in value.items():
            found |= names_used(key) | names_used(sub)
    elif isinstance(value, list):
        for sub in value:
            found |= names_used(sub)
    return found

"""Sandboxed templating of scenario and config values.

Templates see only the values handed to them (saved step values, config payloads, run
identifiers). The jinja2 sandbox forbids access to internals (``__class__``, ``__globals__``),
there is no loader (no ``include``/``import`` of files) and undefined names are errors.
"""

from __future__ import annotations

import re
from contextlib import suppress
from functools import lru_cache
from typing import Any

from jinja2 import DictLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

_WHOLE = re.compile(r"^\s*\{\{\s*(.+?)\s*\}\}\s*$", re.S)

# An empty loader: ``include``/``import``/``extends`` find nothing, so no file can be read.
_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, loader=DictLoader({}))
_env.globals.clear()


class TemplateProblem(Exception):
    """A template could not be rendered (undefined name, syntax, sandbox violation)."""


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
    except TemplateError as exc:
        raise TemplateProblem(f"cannot render {text!r}: {exc.message or exc}") from exc


def check_syntax(text: str) -> str | None:
    """Return a syntax error message for a template string, or None."""
    try:
        whole = _WHOLE.match(text)
        if whole and "}}" not in whole.group(1):
            _env.compile_expression(whole.group(1))
        else:
            _env.parse(text)
    except TemplateError as exc:
        return str(exc.message or exc)
    return None


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

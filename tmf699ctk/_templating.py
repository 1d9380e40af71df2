"""Sandboxed templating of scenario and config values.

Templates see only the values handed to them (saved step values, config payloads, run
identifiers). The jinja2 sandbox forbids access to internals (``__class__``, ``__globals__``),
there is no loader (no ``include``/``import`` of files) and undefined names are errors.

Templates are also bounded: no value or output larger than ``MAX_OUTPUT`` (``{{ 'a' * 10**9 }}``
is refused before it is computed, not after 4 GB), and values interpolated into a request path
are percent-encoded as one path segment each (``render_path``), so a server-provided id such as
``../../admin`` can never become a path of its own.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import DictLoader, StrictUndefined, TemplateError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

_WHOLE = re.compile(r"^\s*\{\{\s*(.+?)\s*\}\}\s*$", re.S)

MAX_OUTPUT = 1 << 20  # characters (or items) one template value may hold: ids and payloads are far smaller
_WIDE_FORMAT = re.compile(r"\d{7,}")  # a format width of a million or more ('%9999999d', '{:>9999999}')


class TemplateProblem(Exception):
    """A template could not be rendered.

    ``author`` is True for the scenario author's mistakes (syntax, a refused construct, a name
    nothing defines, a value beyond the size limit) and False when the data was not what the
    template expected (a saved response without the attribute read, a value of another type).
    """

    def __init__(self, message: str, author: bool = True) -> None:
        super().__init__(message)
        self.author = author


class _TooLarge(SecurityError):
    """A template operation would produce a value beyond ``MAX_OUTPUT``."""

    def __init__(self, message: str, author: bool) -> None:
        super().__init__(message)
        self.author = author  # an amplifying operation the template wrote, not a large value it was given


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict | set) else 0


def _refuse(what: str, author: bool = True) -> None:
    raise _TooLarge(f"{what} would exceed the template size limit ({MAX_OUTPUT:,} characters)", author)


def _check_result(value: Any) -> Any:
    if _size(value) > MAX_OUTPUT:
        _refuse(f"a value of {_size(value):,} characters or items", author=False)
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Amplifying arguments (widths, counts, repeat factors) are refused before the call runs."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
            _refuse(f"an argument of {value:,}")
        if isinstance(value, float) and abs(value) > MAX_OUTPUT:
            _refuse(f"an argument of {value:g}")


def _check_format(template: Any) -> None:
    if isinstance(template, str) and _WIDE_FORMAT.search(template):
        _refuse("a format width of a million or more")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        times = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        if len(text) + times * max(0, len(new) - len(old)) > MAX_OUTPUT:
            _refuse("this replace")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    # @pass_context / @pass_environment filters take jinja's own object first: not a value
    skip = 1 if hasattr(function, "jinja_pass_arg") else 0

    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = args[skip:]
        _check_arguments(tuple(values[1:]), kwargs)
        if name == "replace" and len(values) >= 3:
            _check_replace(*values[:4])
        if name == "format" and values:
            _check_format(values[0])
        return _check_result(function(*args, **kwargs))

    if skip:
        bounded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with every operator and call that can amplify a value checked first."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, loader=DictLoader({}), **options)
        self.globals.clear()  # no range, lipsum, cycler, namespace: nothing to loop or build with
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _size(seq) and isinstance(times, int) and _size(seq) * max(0, times) > MAX_OUTPUT:
                    _refuse(f"repeating {_size(seq):,} characters or items {times:,} times")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                and right * abs(left).bit_length() > 8 * MAX_OUTPUT:
            _refuse(f"{left} ** {right}")
        elif operator == "%":
            _check_format(left)
            _check_arguments(right if isinstance(right, tuple) else (right,), {})
        elif operator == "+" and _size(left) + _size(right) > MAX_OUTPUT:
            _refuse(f"joining {_size(left):,} and {_size(right):,} characters or items")
        return _check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format in its own function
        name = getattr(method, "__name__", "")
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            if name == "replace" and len(args) >= 2:
                _check_replace(owner, *args[:3])
            if name in ("format", "format_map"):
                _check_format(owner)
        return _check_result(super().call(__context, __obj, *args, **kwargs))


def _segment(value: Any) -> str:
    """One path segment: every character that could end or escape it is percent-encoded. An empty
    or null value is refused: ``/salesLead/`` (or ``/salesLead/None``) would address the collection,
    or a resource nobody named, and a PATCH or DELETE there may be a bulk operation."""
    if value is None or value == "":
        raise TemplateProblem(f"the value put into the path is {'null' if value is None else 'empty'}: the "
                              "request would address the collection, not one resource", author=False)
    text = quote(str(value), safe="")
    collected = getattr(_interpolated, "values", None)
    if collected is not None:
        collected.append(str(value))
    return text


_interpolated = threading.local()  # the values render_path inserted, for its caller's messages
_env = _BoundedSandbox()
_path_env = _BoundedSandbox(finalize=_segment)


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


def render_path(template: str | None, context: dict[str, Any]) -> tuple[str, list[str]]:
    """(the rendered path, the values interpolated into it): each value is percent-encoded as a
    single path segment, so ``/salesLead/{{ lead.id }}`` stays one resource whatever the id."""
    if template is None:
        return "", []
    if "{{" not in template and "{%" not in template:
        return template, []
    _interpolated.values = []
    try:
        rendered = _render_text(template, context, _compiled_path(template))
        return rendered, list(_interpolated.values)
    finally:
        _interpolated.values = None


@lru_cache(maxsize=4096)
def _compiled(text: str) -> tuple[bool, Any]:
    """(is a whole expression, compiled callable); compiling dominates rendering, so cache it."""
    whole = _WHOLE.match(text)
    if whole and "}}" not in whole.group(1):
        return True, _env.compile_expression(whole.group(1), undefined_to_none=False)
    return False, _env.from_string(text)


@lru_cache(maxsize=1024)
def _compiled_path(text: str) -> Any:
    return _path_env.from_string(text)


def _render_string(text: str, context: dict[str, Any]) -> Any:
    if "{{" not in text and "{%" not in text:
        return text
    try:
        expression, compiled = _compiled(text)
    except TemplateError as exc:
        raise TemplateProblem(f"cannot render {text!r}: {exc.message or exc}") from exc
    if not expression:
        return _render_text(text, context, compiled)
    try:
        result = compiled(**context)
        if isinstance(result, StrictUndefined):
            str(result)  # raises UndefinedError with the missing name
        return _check_result(result)
    except Exception as exc:
        raise _problem(text, exc) from exc


def _render_text(text: str, context: dict[str, Any], compiled: Any) -> str:
    """A template's text output, stopped as soon as it passes the size limit."""
    parts: list[str] = []
    length = 0
    try:
        for part in compiled.generate(**context):
            length += len(part)
            if length > MAX_OUTPUT:
                _refuse("the template's output", author=False)
            parts.append(part)
    except Exception as exc:
        raise _problem(text, exc) from exc
    return "".join(parts)


def _problem(text: str, exc: Exception) -> TemplateProblem:
    shown = text if len(text) <= 200 else text[:197] + "..."
    if isinstance(exc, TemplateProblem):  # a refused path segment
        return TemplateProblem(f"cannot render {shown!r}: {exc}", author=exc.author)
    if isinstance(exc, _TooLarge):
        return TemplateProblem(f"template {shown!r} refused: {exc}", author=exc.author)
    if isinstance(exc, SecurityError):
        return TemplateProblem(f"forbidden in template {shown!r}: {exc}")
    if isinstance(exc, UndefinedError):
        # every name a scenario reads is checked when it is loaded (`undefined_names`): one missing
        # now was not saved (its step was skipped) or the saved answer lacks the attribute read
        return TemplateProblem(f"cannot render {shown!r}: {exc.message or exc}", author=False)
    if isinstance(exc, TemplateError):
        return TemplateProblem(f"cannot render {shown!r}: {exc.message or exc}")
    # a template may fail like any expression (1/0, 'a' + 1, a huge int printed) on the data it got
    return TemplateProblem(f"cannot render {shown!r}: {type(exc).__name__}: {str(exc)[:200]}", author=False)


def has_template(text: Any) -> bool:
    return isinstance(text, str) and ("{{" in text or "{%" in text)


def is_whole_expression(text: str) -> bool:
    """``{{ expr }}`` alone: it renders to the expression's own type, not to a string."""
    whole = _WHOLE.match(text)
    return bool(whole and "}}" not in whole.group(1))


@lru_cache(maxsize=8192)
def check_syntax(text: str) -> str | None:
    """Return a syntax error message for a template string (unknown filters and tests included), or None.

    Cached: loading the suite checks ~1,000 templates, most of them repeated across scenarios."""
    try:
        _compiled(text)  # what rendering will use: compiled once, for both
    except TemplateError as exc:
        return str(exc.message or exc)
    except Exception as exc:  # the compiler folds constants: an expression may fail right here
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


# -- static analysis, for `validate`: what a template needs and what the sandbox would refuse -------

# methods the immutable sandbox refuses to call (they modify a value); as jinja2.sandbox lists them
_MUTATING = frozenset({
    "append", "appendleft", "clear", "difference_update", "discard", "extend", "extendleft", "insert",
    "intersection_update", "pop", "popitem", "popleft", "remove", "reverse", "rotate", "setdefault", "sort",
    "symmetric_difference_update", "update", "add",
})


@lru_cache(maxsize=8192)
def _analysed(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(the names the template reads, what the sandbox would refuse in it), from one parse; both
    empty for a syntax error, reported apart. The refusals are read first, from the tree as
    parsed: finding the names runs jinja's code generator over it, whose constant folding may
    rewrite it. Only the results are kept, not the tree."""
    try:
        tree = _env.parse(text)
    except TemplateError:
        return frozenset(), ()
    refusals = _refusals_in(tree)
    try:
        names = frozenset(meta.find_undeclared_variables(tree))
    except TemplateError:
        names = frozenset()
    return names, refusals


def undeclared_names(text: str) -> frozenset[str]:
    """The names a template reads from its context (empty for a syntax error: reported apart)."""
    return _analysed(text)[0]


def undefined_names(text: str, defined: Iterable[str]) -> list[str]:
    """The names ``text`` reads that ``defined`` does not provide, in order of first use."""
    missing = undeclared_names(text) - set(defined)
    return sorted(missing, key=lambda name: (text.find(name), name))


def sandbox_refusals(text: str) -> list[str]:
    """Constructs the sandbox refuses at render time, found before anything is sent."""
    return list(_sandbox_refusals(text))


def _sandbox_refusals(text: str) -> tuple[str, ...]:
    # a template whose names cannot be found for another reason than a TemplateError does not
    # compile either: check_syntax reports it, and its refusals are never asked for
    return _analysed(text)[1]


def _refusals_in(tree: nodes.Template) -> tuple[str, ...]:
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
    return tuple(dict.fromkeys(found))


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
    found: set[str] = set()
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            found |= undeclared_names(value)  # empty for a syntax error: check_syntax's to report
    elif isinstance(value, dict):
        for key, sub in value.items():
            found |= names_used(key) | names_used(sub)
    elif isinstance(value, list):
        for sub in value:
            found |= names_used(sub)
    return found

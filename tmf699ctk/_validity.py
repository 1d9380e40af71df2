"""A compiled yes/no answer to "is this instance valid against this schema?", for the keywords the
bundled schemas use.

jsonschema builds a new validator object at every step into a schema and resolves every ``$ref``
again for every instance: the reference server validating each request body and the checks
validating each answer spent a third of a v5 run's CPU there. Here each schema is compiled once into
plain functions with jsonschema's Draft 2020-12 semantics (its type checker, its ``equal``, the
same format checker). Only a "valid" answer is used: whatever it finds invalid is validated again
by jsonschema, which words the errors, so no message changes. A schema with any other keyword,
dialect or construct is not compiled at all (``compile_check`` raises ``NotCompiled``) and
jsonschema alone answers for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema._utils import equal  # jsonschema's own comparison for enum and const: the same answers
from referencing.exceptions import Unresolvable

if TYPE_CHECKING:
    from referencing._core import Resolver

Check = Callable[[Any], bool]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# keywords jsonschema's Draft 2020-12 validator evaluates; any other key is an annotation it ignores
_EVALUATED = frozenset(Draft202012Validator.VALIDATORS)
_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER
# jsonschema's own checks for these are one isinstance (or identity) each: the same test, inlined
_PLAIN_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def _checked_type(name: str) -> Check:
    return lambda x: _TYPE_CHECKER.is_type(x, name)


class NotCompiled(Exception):
    """The schema uses something compiled here does not cover: jsonschema validates it alone."""


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return lambda x: all(check(x) for check in checks)


class _Compiler:
    def __init__(self, format_checker: FormatChecker | None) -> None:
        self.format_checker = format_checker
        # (id of a schema object, base URI) -> its check, once compiled (a box first: $refs may recurse)
        self.done: dict[tuple[int, str], list[Check]] = {}

    def schema(self, schema: Any, resolver: Resolver[Any], base: str, root: bool = False) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise NotCompiled(f"not a schema: {schema!r}")
        if schema.get("$schema", DIALECT) != DIALECT:
            raise NotCompiled(f"dialect {schema['$schema']!r}")
        if "$id" in schema and not root:
            raise NotCompiled("an embedded resource ($id below a resource's root)")
        key = (id(schema), base)
        found = self.done.get(key)
        if found is not None:
            return found[0] if found else lambda x: found[0](x)  # still being compiled: a recursive $ref
        box: list[Check] = []
        self.done[key] = box
        checks = [self.keyword(k, v, schema, resolver, base) for k, v in schema.items() if k in _EVALUATED]
        box.append(_all(checks))
        return box[0]

    def keyword(self, name: str, value: Any, schema: dict[str, Any], resolver: Resolver[Any], base: str) -> Check:
        if name == "type":
            return self.type(value)
        if name == "properties":
            return self.properties(value, resolver, base)
        if name == "required":
            if not isinstance(value, list):
                raise NotCompiled("required is not an array")
            names = tuple(value)
            return lambda x: not isinstance(x, dict) or all(n in x for n in names)
        if name == "items":
            if "prefixItems" in schema:
                raise NotCompiled("prefixItems")
            each = self.schema(value, resolver, base)
            return lambda x: not isinstance(x, list) or all(each(e) for e in x)
        if name == "enum":
            return self.enum(value)
        if name == "const":
            if isinstance(value, str):  # equal() compares strings with ==
                return lambda x: x == value
            return lambda x: equal(x, value)
        if name == "format":
            return self.format(value)
        if name == "allOf":
            return _all([self.schema(s, resolver, base) for s in value])
        if name == "if":
            return self.conditional(schema, resolver, base)
        if name == "$ref":
            return self.ref(value, resolver, base)
        raise NotCompiled(f"keyword {name!r}")

    @staticmethod
    def type(value: Any) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        tests: list[Check] = []
        for name in names:
            if name in _PLAIN_TYPES:
                tests.append(_PLAIN_TYPES[name])
            elif name in ("integer", "number"):
                tests.append(_checked_type(name))
            else:
                raise NotCompiled(f"type {name!r}")
        if len(tests) == 1:
            return tests[0]
        return lambda x: any(test(x) for test in tests)

    def properties(self, value: Any, resolver: Resolver[Any], base: str) -> Check:
        members = [(name, self.schema(sub, resolver, base)) for name, sub in value.items()]

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            return all(name not in x or member(x[name]) for name, member in members)

        return check

    @staticmethod
    def enum(value: Any) -> Check:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            # equal(s, x) is s == x when s is a string: only an equal string matches
            strings = frozenset(value)
            return lambda x: isinstance(x, str) and x in strings
        return lambda x: any(equal(each, x) for each in value)

    def format(self, value: Any) -> Check:
        checker = self.format_checker
        if checker is None or value not in checker.checkers:
            return _always  # jsonschema ignores a format it has no checker for
        func, raises = checker.checkers[value]

        def check(x: Any) -> bool:
            try:
                return bool(func(x))
            except raises:
                return False

        return check

    def conditional(self, schema: dict[str, Any], resolver: Resolver[Any], base: str) -> Check:
        test = self.schema(schema["if"], resolver, base)
        then = self.schema(schema["then"], resolver, base) if "then" in schema else _always
        otherwise = self.schema(schema["else"], resolver, base) if "else" in schema else _always
        return lambda x: then(x) if test(x) else otherwise(x)

    def ref(self, value: Any, resolver: Resolver[Any], base: str) -> Check:
        if not isinstance(value, str):
            raise NotCompiled("$ref is not a string")
        try:
            resolved = resolver.lookup(value)
        except Unresolvable as exc:
            raise NotCompiled(f"unresolvable $ref {value!r}") from exc
        # the base URI the resolver now has (referencing's lookup: a fragment-only ref keeps it)
        target, fragment = (base, value[1:]) if value.startswith("#") else urldefrag(urljoin(base, value))
        return self.schema(resolved.contents, resolved.resolver, target, root=not fragment)


def compile_check(schema: dict[str, Any], resolver: Resolver[Any], format_checker: FormatChecker | None) -> Check:
    """A function telling whether an instance is valid against ``schema`` (the root of a resource whose
    references ``resolver`` resolves); NotCompiled if anything in it is not covered here."""
    base = schema.get("$id", "") if isinstance(schema, dict) else ""
    return _Compiler(format_checker).schema(schema, resolver, base, root=True)

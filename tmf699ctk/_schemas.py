"""Bundled JSON Schemas: loaded once per process, validators compiled once, errors named by JSON path.

Every bundled version is plain JSON Schema (the generator translates OpenAPI 3.0's dialect),
so one validator per schema's ``$schema`` serves v4 and v5 alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from ._exceptions import SchemaError
from ._resources import data_dir
from ._validity import Check, NotCompiled, compile_check

DEFAULT_SPEC = "tmf699-v4.0.0"
MAX_ERRORS = 10

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

format_checker = FormatChecker(formats=())


@format_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    """RFC 3339 date-time with a mandatory offset, as JSON Schema requires."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    return True


@format_checker.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    """An absolute URI (RFC 3986): a scheme, no spaces or control characters."""
    if not isinstance(value, str):
        return True
    if not _SCHEME.match(value) or any(c.isspace() or ord(c) < 32 for c in value):
        return False
    urlsplit(value)
    return True


def parse_datetime(value: str) -> datetime | None:
    """Parse an RFC 3339 date-time; None when it is not one."""
    try:
        return datetime.fromisoformat(value.replace("z", "Z")) if _RFC3339.match(value) else None
    except ValueError:
        return None


def _no_network(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # the stub lags the attrs class


@dataclass(frozen=True)
class SchemaStore:
    """All schemas of one spec version, with validators compiled on first use."""

    spec: str
    id_base: str
    registry: Registry
    names: frozenset[str]
    _validators: dict[str, Validator] = field(default_factory=dict, repr=False, compare=False)
    _checks: dict[str, Check | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, spec: str = DEFAULT_SPEC, folder: Path | None = None) -> SchemaStore:
        """The schemas of ``spec`` in ``folder`` (default: the bundled ones). The bundled schemas do not
        change while the kit runs: they are read once per process, and their validators, compiled on
        first use, then serve every plan, server and run of the process."""
        if folder is None:
            return _bundled(spec, data_dir("schemas") / spec)
        return cls._read(spec, folder)

    @classmethod
    def _read(cls, spec: str, folder: Path) -> SchemaStore:
        index_path = folder / "index.json"
        if not index_path.is_file():
            raise SchemaError(f"no schema index at {index_path}; run scripts/gen_schemas.py")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        resources = []
        for name in index["definitions"]:
            path = folder / f"{name}.schema.json"
            try:
                contents = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SchemaError(f"cannot read schema {path}: {exc}") from exc
            resources.append((contents["$id"], Resource.from_contents(contents)))
        registry = Registry(retrieve=_no_network).with_resources(resources)  # type: ignore[call-arg]
        return cls(spec, index["idBase"], registry.crawl(), frozenset(index["definitions"]))

    def validator(self, name: str) -> Validator:
        cache = self._validators
        if name not in cache:
            if name not in self.names:
                raise SchemaError(f"unknown schema {name!r}; known: {', '.join(sorted(self.names))}")
            schema = self.registry.contents(self.id_base + name + ".schema.json")
            cls = validator_for(schema, default=Draft202012Validator)
            cache[name] = cls(schema, registry=self.registry, format_checker=format_checker)
        return cache[name]

    def _valid(self, name: str, instance: Any) -> bool:
        """True when the compiled check finds ``instance`` valid; False when it does not, or cannot tell."""
        if name not in self._checks:
            self.validator(name)  # an unknown name is a SchemaError, as for errors()
            try:
                check: Check | None = compile_check(
                    self.registry.contents(self.id_base + name + ".schema.json"),
                    self.registry.resolver(self.id_base + name + ".schema.json"), format_checker)
            except NotCompiled:
                check = None
            self._checks[name] = check
        check = self._checks[name]
        try:
            return check is not None and check(instance)
        except Exception:  # whatever jsonschema makes of it (an error, an exception) is the answer
            return False

    def errors(self, name: str, instance: Any, limit: int = MAX_ERRORS) -> list[str]:
        """Every violation as ``$.path: message``, deepest first, at most ``limit``."""
        if self._valid(name, instance):
            return []  # only the errors need jsonschema
        found = sorted(self.validator(name).iter_errors(instance), key=_error_order)
        # A subtype re-checks what its discriminated parent checked: say each problem once.
        unique = list(dict.fromkeys(format_error(err) for err in found))
        messages = unique[:limit]
        if len(unique) > limit:
            messages.append(f"... and {len(unique) - limit} more")
        return messages


@cache
def _bundled(spec: str, folder: Path) -> SchemaStore:
    return SchemaStore._read(spec, folder)


def _error_order(error: ValidationError) -> tuple[str, str]:
    return (error.json_path, error.message)


def format_error(error: ValidationError) -> str:
    """``$.status: 'ACKNOWLEDGED' is not one of [...]`` rather than a dump of the schema."""
    # For a failing $ref'd or combined keyword the useful cause is the deepest sub-error.
    while error.context:
        error = min(error.context, key=lambda e: -len(e.absolute_path))
    message = error.message
    if error.validator == "format":
        message = f"{error.instance!r} is not a valid {error.validator_value}"
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{error.json_path}: {message}"

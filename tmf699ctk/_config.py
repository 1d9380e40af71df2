"""The config file: read, validated against its schema (every problem listed with its line),
``${ENV}`` expanded. Merging with the environment and the command line happens in ``_settings``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ._apis import ApiSpec, api_spec
from ._exceptions import ConfigError
from ._resources import package_file
from ._schemas import SchemaStore
from ._templating import TemplateProblem, names_used, render
from ._yaml import YamlProblem, error_location, line_for, load_with_lines, read_text

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# values under these config paths are credentials: never echoed in an error message
_SECRET_PATHS = ("target.headers", "target.basic_auth", "target.proxy", "target.oauth2", "target.key_password")

# payload name -> which of its resource's schemas it must satisfy
PAYLOAD_VIEWS = {"full": "create_schema", "minimal": "create_schema", "second": "create_schema",
                 "patch": "update_schema", "patch_status": "update_schema"}
# v4's names, kept for readers of the v4 table
PAYLOAD_SCHEMAS = {name: "SalesLead_Create" if view == "create_schema" else "SalesLead_Update"
                   for name, view in PAYLOAD_VIEWS.items()}


@dataclass
class ConfigFile:
    """What a config file says, keyed like the settings (``target.timeout``), plus its sections."""

    source: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    report: dict[str, str | None] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource -> name -> body, as the file says
    payload_overrides: list[str] = field(default_factory=list)  # "salesLead.full", ...
    secrets: list[str] = field(default_factory=list)  # values that came from ${ENV}


_PAYLOADS_HEAD = "# Request bodies."


def template_text(version: str = "4.0.0") -> str:
    """The commented config file `init` writes for a TMF699 version: v4's file, or its settings with
    the version's base URL, api_version and report name, followed by the version's payloads."""
    base = package_file("config_template.yaml").read_text(encoding="utf-8")
    api = api_spec(version)
    if api.config_template == "config_template.yaml":
        return base
    settings = base[: base.index(_PAYLOADS_HEAD)]
    settings = (settings.replace("/tmf-api/sales/v4", api.default_base_path)
                .replace("  api_version: null", f'  api_version: "{api.version}"')
                .replace("TMF699-v4.0.0", api.label))
    own = package_file(api.config_template).read_text(encoding="utf-8")
    return settings + own[own.index(_PAYLOADS_HEAD):]


def _shipped_yaml(text: str) -> Any:
    """A YAML file shipped with the kit, parsed by libyaml when it is there (the pure-Python
    loader takes 7-14 ms for a config template, libyaml 1 ms; the data is the same)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def default_payloads(api: ApiSpec) -> dict[str, dict[str, Any]]:
    """The example bodies shipped for ``api``: resource -> payload name -> body (templates unrendered)."""
    data = _shipped_yaml(package_file(api.config_template).read_text(encoding="utf-8"))
    return {resource: dict(data["payloads"].get(resource) or {}) for resource in api.resources}


def _defaults() -> dict[str, Any]:
    data: dict[str, Any] = _shipped_yaml(template_text())
    return data


def _expand_env(value: Any, where: str, secrets: list[str], problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}", secrets, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", secrets, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            secrets.append(os.environ[name])
            return os.environ[name]
        if default is not None:
            return default
        problems.append(f"{where}: environment variable {name} is not set")
        return ""

    return _ENV.sub(substitute, value)


def _is_secret(path: str) -> bool:
    return path.startswith(_SECRET_PATHS)


def _message(error: ValidationError) -> str:
    where = ".".join(map(str, error.absolute_path)) or "(top level)"
    if _is_secret(where) and error.validator not in ("additionalProperties", "required"):
        # jsonschema's messages quote the value: never for a credential
        expected = error.validator_value if error.validator in ("type", "enum") else error.validator
        return f"{where}: invalid value (not shown: it may be a secret); expected {expected}"
    return f"{where}: {error.message}"


def _validate_file(data: Any, lines: dict[Any, int], source: str) -> None:
    schema = json.loads(package_file("config.schema.json").read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(map(str, e.path)))
    if errors:
        listed = [f"{source}:{line_for(lines, error_location(e))}: {_message(e)}" for e in errors]
        raise ConfigError("\n".join(listed))


def read_config(path: Path | None) -> ConfigFile:
    """Read and validate a config file (None: only the bundled defaults)."""
    defaults = _defaults()
    result = ConfigFile(report={k: None for k in defaults.get("report") or {}})
    if path is None:
        return result
    result.source = str(path)
    try:
        data, lines = load_with_lines(read_text(path))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except YamlProblem as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from exc
    data = data or {}
    _validate_file(data, lines, result.source)
    problems: list[str] = []
    data = _expand_env(data, "config", result.secrets, problems)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    for section in ("target", "run", "notifications", "output"):
        for name, value in (data.get(section) or {}).items():
            if value is None:
                continue
            if section == "notifications" and name in ("listen_host", "listen_port"):
                continue
            result.values[f"{section}.{name}"] = value
    n = data.get("notifications") or {}
    if "listen_host" in n or "listen_port" in n:
        result.values["notifications.listen"] = (n.get("listen_host") or "127.0.0.1", int(n.get("listen_port") or 0))
    result.report.update({k: (str(v) if v is not None else None) for k, v in (data.get("report") or {}).items()})
    for resource, bodies in (data.get("payloads") or {}).items():
        for name, body in (bodies or {}).items():
            result.payloads.setdefault(resource, {})[name] = body  # replaced whole, never merged into ours
            result.payload_overrides.append(f"{resource}.{name}")
    return result


def effective_payloads(overrides: Mapping[str, Mapping[str, Any]], api: ApiSpec) -> dict[str, dict[str, Any]]:
    """The version's example bodies with the config file's bodies in their place."""
    payloads = copy.deepcopy(default_payloads(api))
    for resource, bodies in overrides.items():
        payloads.setdefault(resource, {}).update(copy.deepcopy(dict(bodies)))
    return payloads


class _Placeholder(dict):  # type: ignore[type-arg]
    """Stands for a value saved by a step (``lead`` in ``{{ lead.id }}``) when payloads are checked
    before the run: every attribute is a URI-shaped string, valid where a string or URI is."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, key: str) -> str:
        return f"urn:tmf699ctk:placeholder:{self.name}.{key}"


def _placeholders(payloads: Any, known: Mapping[str, Any]) -> dict[str, Any]:
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and "{" in value:
            names.update(names_used(value))
        elif isinstance(value, dict):
            for sub in value.values():
                walk(sub)
        elif isinstance(value, list):
            for sub in value:
                walk(sub)

    walk(payloads)
    return {name: _Placeholder(name) for name in names if name not in known}


class LazyPayloads(Mapping[str, Any]):
    """The payloads as templates see them: each body is rendered when a step uses it, in that
    step's context (an opportunity's payload refers to the lead the scenario saved before).

    ``payloads.full`` is the first resource's body (v4's spelling); ``payloads.salesOpportunity.full``
    names the resource."""

    def __init__(self, payloads: Mapping[str, Mapping[str, Any]], context: dict[str, Any],
                 resource: str | None = None) -> None:
        self._payloads, self._context, self._resource = payloads, context, resource

    def _bodies(self) -> Mapping[str, Any]:
        if self._resource is not None:
            return self._payloads.get(self._resource, {})
        return next(iter(self._payloads.values()), {})

    def __getitem__(self, key: str) -> Any:
        if self._resource is None and key in self._payloads:
            return LazyPayloads(self._payloads, self._context, key)
        bodies = self._bodies()
        if key not in bodies:
            raise KeyError(key)
        return render(bodies[key], self._context)

    def __iter__(self) -> Iterator[str]:
        return iter(self._bodies())

    def __len__(self) -> int:
        return len(self._bodies())


def render_payloads(payloads: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    try:
        rendered = render(dict(payloads), context)
    except TemplateProblem as exc:
        raise ConfigError(f"payload template: {exc}") from exc
    return rendered  # type: ignore[no-any-return]


def check_payload_templates(payloads: Mapping[str, Mapping[str, Any]], context: dict[str, Any]) -> dict[str, Any]:
    """Render every payload with ``context``, values saved by steps standing in as placeholders
    (ConfigError naming a broken template)."""
    return render_payloads({r: dict(b) for r, b in payloads.items()},
                           {**_placeholders(dict(payloads), context), **context})


def validate_payloads(payloads: Mapping[str, Mapping[str, Any]], schemas: SchemaStore, where: str | None,
                      api: ApiSpec | None = None) -> None:
    """Every payload of every resource is valid against its TMF699 schema, before anything is sent."""
    api = api or api_spec("4.0.0")
    rendered = check_payload_templates(payloads, {"run_id": "check0000"})
    where = where or "built-in defaults"
    problems = []
    for resource_name, resource in api.resources.items():
        bodies = rendered.get(resource_name) or {}
        for name, view in PAYLOAD_VIEWS.items():
            body = bodies.get(name)
            schema = getattr(resource, view)
            if body is None:
                problems.append(f"{where}: payloads.{resource_name}.{name} is missing")
                continue
            errors = schemas.errors(schema, body)
            if errors:
                problems.append(f"{where}: payloads.{resource_name}.{name} is not a valid {schema}: "
                                + "; ".join(errors))
        if isinstance(bodies.get("patch"), dict) and "status" in bodies["patch"]:
            problems.append(f"{where}: payloads.{resource_name}.patch must not change status (use patch_status)")
        if isinstance(bodies.get("patch_status"), dict) and "status" not in bodies["patch_status"]:
            problems.append(f"{where}: payloads.{resource_name}.patch_status must set status")
    unknown = sorted(set(rendered) - set(api.resources))
    if unknown:
        problems.append(f"{where}: payloads.{unknown[0]}: TMF699 v{api.version} has no such resource "
                        f"({', '.join(api.resources)})")
    if problems:
        raise ConfigError("\n".join(problems))

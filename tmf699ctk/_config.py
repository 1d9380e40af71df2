"""The config file: read, validated against its schema (every problem listed with its line),
``${ENV}`` expanded. Merging with the environment and the command line happens in ``_settings``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ._exceptions import ConfigError
from ._resources import package_file
from ._schemas import SchemaStore
from ._templating import TemplateProblem, render
from ._yaml import YamlProblem, error_location, line_for, load_with_lines, read_text

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# values under these config paths are credentials: never echoed in an error message
_SECRET_PATHS = ("target.headers", "target.basic_auth", "target.proxy", "target.oauth2", "target.key_password")

# payload name -> schema it must satisfy (TMF699 v4.0.0)
PAYLOAD_SCHEMAS = {
    "full": "SalesLead_Create",
    "minimal": "SalesLead_Create",
    "second": "SalesLead_Create",
    "patch": "SalesLead_Update",
    "patch_status": "SalesLead_Update",
}


@dataclass
class ConfigFile:
    """What a config file says, keyed like the settings (``target.timeout``), plus its sections."""

    source: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    report: dict[str, str | None] = field(default_factory=dict)
    payloads: dict[str, Any] = field(default_factory=dict)
    payload_overrides: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # values that came from ${ENV}


def template_text() -> str:
    return package_file("config_template.yaml").read_text(encoding="utf-8")


def _defaults() -> dict[str, Any]:
    return yaml.safe_load(template_text())


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


def _validate_file(data: Any, lines: dict, source: str) -> None:
    schema = json.loads(package_file("config.schema.json").read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(map(str, e.path)))
    if errors:
        listed = [f"{source}:{line_for(lines, error_location(e))}: {_message(e)}" for e in errors]
        raise ConfigError("\n".join(listed))


def read_config(path: Path | None) -> ConfigFile:
    """Read and validate a config file (None: only the bundled defaults)."""
    defaults = _defaults()
    result = ConfigFile(payloads=copy.deepcopy(defaults["payloads"]["salesLead"]),
                        report={k: None for k in defaults.get("report") or {}})
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
    for name, body in ((data.get("payloads") or {}).get("salesLead") or {}).items():
        result.payloads[name] = body  # replaced whole, never merged into ours
        result.payload_overrides.append(name)
    return result


def render_payloads(payloads: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    try:
        rendered = render(dict(payloads), context)
    except TemplateProblem as exc:
        raise ConfigError(f"payload template: {exc}") from exc
    return rendered  # type: ignore[no-any-return]


def validate_payloads(payloads: Mapping[str, Any], schemas: SchemaStore, where: str | None) -> None:
    """Every payload is valid against its TMF699 schema, before anything is sent."""
    rendered = render_payloads(payloads, {"run_id": "check0000"})
    where = where or "built-in defaults"
    problems = []
    for name, schema in PAYLOAD_SCHEMAS.items():
        body = rendered.get(name)
        if body is None:
            problems.append(f"{where}: payloads.salesLead.{name} is missing")
            continue
        errors = schemas.errors(schema, body)
        if errors:
            problems.append(f"{where}: payloads.salesLead.{name} is not a valid {schema}: " + "; ".join(errors))
    if "status" in rendered.get("patch", {}):
        problems.append(f"{where}: payloads.salesLead.patch must not change status (use patch_status)")
    if "status" not in rendered.get("patch_status", {"status": 1}):
        problems.append(f"{where}: payloads.salesLead.patch_status must set status")
    if problems:
        raise ConfigError("\n".join(problems))

"""Configuration: bundled defaults, a user file (``${ENV}`` expanded), command-line overrides."""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from ._exceptions import ConfigError
from ._redact import Redactor
from ._resources import package_file
from ._schemas import SchemaStore
from ._templating import TemplateProblem, render
from ._yaml import YamlProblem, error_location, line_for, load_with_lines, read_text

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# payload name -> schema it must satisfy
PAYLOAD_SCHEMAS = {
    "full": "SalesLead_Create",
    "minimal": "SalesLead_Create",
    "second": "SalesLead_Create",
    "patch": "SalesLead_Update",
    "patch_status": "SalesLead_Update",
}


@dataclass
class Target:
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    timeout: float = 10.0
    verify_tls: bool = True
    ca_bundle: str | None = None
    proxy: str | None = None


@dataclass
class Notifications:
    mode: str = "optional"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    callback_url: str | None = None
    event_timeout: float = 5.0
    quiet_period: float = 1.0


@dataclass
class Config:
    target: Target
    report: dict[str, str | None]
    payloads: dict[str, dict[str, Any]]
    redactor: Redactor
    source: str | None = None
    notifications: Notifications = field(default_factory=Notifications)

    def rendered_payloads(self, context: dict[str, Any]) -> dict[str, dict[str, Any]]:
        try:
            return render(self.payloads, context)
        except TemplateProblem as exc:
            raise ConfigError(f"payload template: {exc}") from exc


def template_text() -> str:
    return package_file("config_template.yaml").read_text(encoding="utf-8")


def _defaults() -> dict[str, Any]:
    return yaml.safe_load(template_text())


def _expand_env(value: Any, where: str, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{where}.{k}", secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", secrets) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            secrets.append(os.environ[name])
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV.sub(substitute, value)


def _validate_file(data: Any, lines: dict, source: str) -> None:
    schema = json.loads(package_file("config.schema.json").read_text(encoding="utf-8"))
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(map(str, e.path)))
    if errors:
        first = errors[0]
        line = line_for(lines, error_location(first))
        where = ".".join(map(str, first.absolute_path)) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}:{line}: {where}: {first.message}{more}")


def load_config(path: Path | None = None, *, schemas: SchemaStore | None = None) -> Config:
    """Load and validate the configuration; payloads are checked against the TMF699 schemas."""
    merged = _defaults()
    secrets: list[str] = []
    source = None
    if path is not None:
        source = str(path)
        try:
            data, lines = load_with_lines(read_text(path))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
        except YamlProblem as exc:
            raise ConfigError(f"{path}:{exc.line}: {exc}") from exc
        data = data or {}
        _validate_file(data, lines, source)
        data = _expand_env(data, "config", secrets)
        for section in ("target", "report", "notifications"):
            merged[section].update({k: v for k, v in (data.get(section) or {}).items()})
        for name, body in (data.get("payloads", {}).get("salesLead") or {}).items():
            merged["payloads"]["salesLead"][name] = body  # replaced whole, never merged into ours
    t = merged["target"]
    redactor = Redactor(secret_headers={h.lower() for h in (t.get("secret_headers") or [])})
    basic = t.get("basic_auth")
    if basic:
        secrets.append(basic["password"])
    redactor.add_values(secrets)
    config = Config(
        target=Target(
            base_url=t.get("base_url"),
            headers={k: str(v) for k, v in (t.get("headers") or {}).items()},
            basic_auth=(basic["username"], basic["password"]) if basic else None,
            timeout=float(t.get("timeout") or 10),
            verify_tls=bool(t.get("verify_tls", True)),
            ca_bundle=t.get("ca_bundle"),
            proxy=t.get("proxy"),
        ),
        report={k: (str(v) if v is not None else None) for k, v in (merged.get("report") or {}).items()},
        payloads=copy.deepcopy(merged["payloads"]["salesLead"]),
        redactor=redactor,
        source=source,
        notifications=Notifications(**(merged.get("notifications") or {})),
    )
    validate_payloads(config, schemas or SchemaStore.load())
    return config


def validate_payloads(config: Config, schemas: SchemaStore) -> None:
    payloads = config.rendered_payloads({"run_id": "check0000"})
    where = config.source or "built-in defaults"
    for name, schema in PAYLOAD_SCHEMAS.items():
        body = payloads.get(name)
        if body is None:
            raise ConfigError(f"{where}: payloads.salesLead.{name} is missing")
        problems = schemas.errors(schema, body)
        if problems:
            raise ConfigError(
                f"{where}: payloads.salesLead.{name} is not a valid {schema}: " + "; ".join(problems)
            )
    if "status" in payloads["patch"]:
        raise ConfigError(f"{where}: payloads.salesLead.patch must not change status (use patch_status)")
    if "status" not in payloads["patch_status"]:
        raise ConfigError(f"{where}: payloads.salesLead.patch_status must set status")

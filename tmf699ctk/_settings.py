"""One frozen Settings object, built once: command line > environment > config file > defaults.

Every run option is declared once in ``OPTIONS`` (its settings key, environment variable and how
a text value is parsed). ``build_settings`` merges the four layers, validates every value in one
place and records where each value came from (``tmf699ctk config`` prints it). Nothing
downstream re-shapes or mutates settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._exceptions import ConfigError, UsageError
from ._redact import Redactor

MIB = 1 << 20


class Profile(StrEnum):
    OFFICIAL = "official"
    FULL = "full"


class NotificationMode(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    MANDATORY = "mandatory"


class FailOn(StrEnum):
    """What makes `run` exit 1."""

    VERDICT = "verdict"  # a FAIL verdict
    NEW = "new"  # a blocking failure that the baseline did not have (needs --baseline)


@dataclass(frozen=True)
class TargetSettings:
    base_url: str | None = None
    api_version: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    basic_auth: tuple[str, str] | None = None
    secret_headers: frozenset[str] = frozenset()
    timeout: float = 10.0
    max_body: int = 16 * MIB
    verify_tls: bool = True
    ca_bundle: str | None = None
    proxy: str | None = None


@dataclass(frozen=True)
class RunSettings:
    profile: Profile = Profile.FULL
    embedded: bool = False
    faults: frozenset[str] = frozenset()
    scenario_paths: tuple[Path, ...] = ()
    only: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    workers: int = 4
    cleanup_timeout: float = 10.0
    clock_skew: float = 300.0
    baseline: Path | None = None  # an earlier run's results.json, to mark what changed
    fail_on: FailOn = FailOn.VERDICT


@dataclass(frozen=True)
class NotificationSettings:
    mode: NotificationMode = NotificationMode.OPTIONAL
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    callback_url: str | None = None
    event_timeout: float = 5.0
    quiet_period: float = 1.0


@dataclass(frozen=True)
class OutputSettings:
    report_dir: Path | None = None
    html: Path | None = None
    junit: Path | None = None
    markdown: Path | None = None
    step_summary: bool = True  # append the Markdown summary to $GITHUB_STEP_SUMMARY when set
    submission: bool = False  # also write the certification document and bundle


@dataclass(frozen=True)
class Settings:
    target: TargetSettings = field(default_factory=TargetSettings)
    run: RunSettings = field(default_factory=RunSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    report: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    payloads: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    payload_overrides: tuple[str, ...] = ()  # payload names the config file replaced
    config_file: str | None = None
    redactor: Redactor = field(default_factory=Redactor)
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def with_base_url(self, url: str) -> Settings:
        """The same settings aimed at another URL (the embedded server's, once it is bound)."""
        return replace(self, target=replace(self.target, base_url=url))

    def weakening(self) -> dict[str, Any]:
        """Options that make the run test less than the full suite would (recorded as evidence)."""
        weak: dict[str, Any] = {}
        if not self.target.verify_tls:
            weak["insecure"] = "TLS certificates were not verified (--insecure)"
        if self.notifications.mode != NotificationMode.MANDATORY:
            weak["notifications"] = (
                "notification tests were not run (--notifications off)"
                if self.notifications.mode == NotificationMode.OFF
                else "a missing notification only warns (--notifications optional)"
            )
        if self.payload_overrides:
            weak["payloads"] = f"payloads replaced by the config file: {', '.join(self.payload_overrides)}"
        if self.target.timeout != TargetSettings.timeout:
            weak["timeout"] = f"timeout {self.target.timeout:g} s per exchange (default {TargetSettings.timeout:g} s)"
        return weak


# -- the option table ---------------------------------------------------------------------------


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _positive(kind: Callable[[str], float]) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        number = kind(value)
        if number <= 0:
            raise ValueError(f"must be positive, got {value!r}")
        return number

    return parse


def _non_negative(value: Any) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return number


def _size(value: Any) -> int:
    """Bytes, or a number with a unit: 16MiB, 512KiB, 1GB."""
    if isinstance(value, int | float):
        number = int(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        units = {"gib": 1 << 30, "mib": MIB, "kib": 1 << 10, "gb": 10**9, "mb": 10**6, "kb": 10**3,
                 "g": 1 << 30, "m": MIB, "k": 1 << 10, "b": 1}
        unit = next((u for u in units if text.endswith(u)), "")
        number = int(float(text[: len(text) - len(unit)] or "x") * units.get(unit, 1))
    if number < 1024:
        raise ValueError(f"must be at least 1 KiB, got {value!r}")
    return number


def _list(value: Any) -> tuple[str, ...]:
    """A list from the config file, or comma/newline-separated text from the environment."""
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(str(v) for v in value)
    return tuple(v.strip() for v in str(value).replace("\n", ",").split(",") if v.strip())


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        # never echo the value: it is often a token
        raise ValueError(f"expected 'Name: value', got a header without ':' ({name.strip()[:40]!r}...)"
                         if not sep else "expected 'Name: value' (a header name has no spaces)")
    return name.strip(), value.strip()


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    items = value if isinstance(value, list | tuple) else str(value).split("\n")
    return tuple(parse_header(h) for h in items if str(h).strip())


def _basic_auth(value: Any) -> tuple[str, str]:
    if isinstance(value, Mapping):
        return str(value["username"]), str(value["password"])
    username, sep, password = str(value).partition(":")
    if not sep:
        raise ValueError("expected 'name:password'")
    return username, password


def _listen(value: Any) -> tuple[str, int]:
    if isinstance(value, tuple):
        return value
    host, sep, port = str(value).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:0, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _base_url(value: Any) -> str:
    """Any base path is allowed; a trailing slash or not makes no difference."""
    from urllib.parse import urlsplit

    text = str(value).strip()
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not carry a query or fragment, got {text!r}")
    return text.rstrip("/")


def _url(value: Any) -> str:
    text = str(value)
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, got {text!r}")
    return text


def _proxy(value: Any) -> str:
    text = str(value)
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ValueError(f"must be a proxy URL like http://proxy.example.com:3128, got {text!r}")
    return text


def _enum(kind: type[StrEnum]) -> Callable[[Any], StrEnum]:
    def parse(value: Any) -> StrEnum:
        try:
            return kind(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"must be one of {', '.join(m.value for m in kind)}, got {value!r}") from None

    return parse


def _workers(value: Any) -> int:
    number = int(value)
    if not 1 <= number <= 64:
        raise ValueError(f"must be between 1 and 64, got {value!r}")
    return number


def _paths(value: Any) -> tuple[Path, ...]:
    return tuple(Path(v) for v in _list(value))


def _path(value: Any) -> Path:
    return Path(str(value))


@dataclass(frozen=True)
class Option:
    key: str  # "section.name" in Settings and in the config file
    cli: str  # the command-line spelling, for messages
    parse: Callable[[Any], Any]
    secret: bool = False  # its value is masked when shown
    merge: bool = False  # mappings/lists from later layers extend earlier ones (headers)
    config: bool = True  # may be set in the config file
    env_parse: Callable[[str], Any] | None = None  # when the environment spells it differently
    flag: Any = None  # a command-line flag without a value sets this (--insecure: verify_tls False)
    repeat: bool = False  # the command-line option may be given more than once

    @property
    def env(self) -> str:
        """The command-line option's name: --base-url reads TMF699CTK_BASE_URL."""
        return "TMF699CTK_" + self.cli.lstrip("-").replace("-", "_").upper()


OPTIONS: tuple[Option, ...] = (
    Option("target.base_url", "--base-url", _base_url),
    Option("target.api_version", "--api-version", str),
    Option("target.headers", "--header", _headers, secret=True, merge=True, repeat=True),
    Option("target.basic_auth", "--user", _basic_auth, secret=True),
    Option("target.secret_headers", "--secret-header", _list, merge=True, repeat=True),
    Option("target.timeout", "--timeout", _positive(float)),
    Option("target.max_body", "--max-body", _size),
    Option("target.verify_tls", "--insecure", _bool, env_parse=lambda text: not _bool(text), flag=False),
    Option("target.ca_bundle", "--ca-bundle", str),
    Option("target.proxy", "--proxy", _proxy, secret=True),
    Option("run.profile", "--profile", _enum(Profile)),
    Option("run.embedded", "--embedded", _bool, config=False, flag=True),
    # --fault a,b as well as --fault a --fault b
    Option("run.faults", "--fault", lambda v: frozenset(n for item in _list(v) for n in _list(item)), config=False,
           repeat=True),
    Option("run.scenario_paths", "--scenarios", _paths, repeat=True),
    Option("run.only", "--scenario", _list, repeat=True),
    Option("run.tags", "--tag", _list, repeat=True),
    Option("run.workers", "--workers", _workers),
    Option("run.cleanup_timeout", "--cleanup-timeout", _positive(float)),
    Option("run.clock_skew", "--clock-skew", _non_negative),
    # a baseline belongs to one pipeline run, not to the target: command line or environment only
    Option("run.baseline", "--baseline", _path, config=False),
    Option("run.fail_on", "--fail-on", _enum(FailOn), config=False),
    Option("notifications.mode", "--notifications", _enum(NotificationMode)),
    Option("notifications.listen", "--listen", _listen),
    Option("notifications.callback_url", "--callback-url", _url),
    Option("notifications.event_timeout", "--event-timeout", _positive(float)),
    Option("notifications.quiet_period", "--quiet-period", _non_negative),
    Option("output.report_dir", "--report-dir", _path),
    Option("output.html", "--html", _path),
    Option("output.junit", "--junit", _path),
    Option("output.markdown", "--markdown", _path),
    Option("output.submission", "--submission", _bool, config=False, flag=True),
)
BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}

CONFIG_ENV = "TMF699CTK_CONFIG"


def _set(settings: Settings, key: str, value: Any) -> Settings:
    section, name = key.split(".", 1)
    if key == "notifications.listen":
        host, port = value
        return replace(settings, notifications=replace(settings.notifications, listen_host=host, listen_port=port))
    if key == "target.verify_tls" and isinstance(value, bool):
        return replace(settings, target=replace(settings.target, verify_tls=value))
    if key == "target.headers":
        value = tuple(value)
    if key == "target.secret_headers":
        value = frozenset(v.lower() for v in value)
    return replace(settings, **{section: replace(getattr(settings, section), **{name: value})})


def _merged(option: Option, earlier: Any, later: Any) -> Any:
    if not option.merge or earlier is None:
        return later
    if option.key == "target.headers":
        names = {k.lower() for k, _ in later}
        return tuple((k, v) for k, v in earlier if k.lower() not in names) + tuple(later)
    return tuple(dict.fromkeys((*earlier, *later)))


def build_settings(
    cli: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Merge defaults < config file < environment < command line into one frozen Settings.

    ``cli`` maps settings keys (``"target.timeout"``) to values already typed by the command
    line (None or absent: not given). Every problem in every layer is collected and raised as
    one ConfigError listing them all.
    """
    from ._config import read_config

    cli = {k: v for k, v in (cli or {}).items() if v is not None and v != () and v != []}
    env = os.environ if env is None else env
    unknown = sorted(set(cli) - BY_KEY.keys())
    if unknown:
        raise UsageError(f"unknown setting(s): {', '.join(unknown)}")
    problems: list[str] = []
    if config_path is None and env.get(CONFIG_ENV):
        config_path = Path(env[CONFIG_ENV])
    file = read_config(config_path)  # raises ConfigError listing every problem of the file
    redactor = Redactor()
    redactor.add_values(file.secrets)

    layers: dict[str, tuple[Any, str]] = {}
    for option in OPTIONS:
        value, source = None, "default"
        for layer, raw, where in (
            ("config", file.values.get(option.key), f"config file {file.source}"),
            ("env", env.get(option.env), f"environment {option.env}"),
            ("cli", cli.get(option.key), f"command line {option.cli}"),
        ):
            if raw is None or (layer == "config" and not option.config):
                continue
            parse = option.env_parse if layer == "env" and option.env_parse else option.parse
            try:
                parsed = parse(raw)
            except (ValueError, TypeError, KeyError) as exc:
                problems.append(f"{where}: {_safe(exc)}" if option.secret else f"{where}: {exc}")
                continue
            if option.secret and layer != "config":  # config secrets come from ${ENV} expansion
                _add_secret_values(redactor, option, parsed)
            value = _merged(option, value, parsed) if value is not None else parsed
            source = where if not option.merge or source == "default" else f"{source} + {where}"
        if value is not None:
            layers[option.key] = (value, source)
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))

    settings = Settings()
    sources: dict[str, str] = {}
    for key, (value, source) in layers.items():
        settings = _set(settings, key, value)
        sources[key] = source
    for option in OPTIONS:
        sources.setdefault(option.key, "default")

    target = settings.target
    if target.basic_auth:
        redactor.add_values([target.basic_auth[1]])
        redactor.add_credentials(*target.basic_auth)
    redactor.secret_headers |= set(target.secret_headers)
    redactor.add_values(v for k, v in target.headers if redactor.is_secret_header(k))
    if target.proxy:
        redactor.add_url_userinfo(target.proxy)
    if target.base_url:
        redactor.add_url_userinfo(target.base_url)
    settings = replace(
        settings,
        report=MappingProxyType(dict(file.report)),
        payloads=MappingProxyType(file.payloads),
        payload_overrides=tuple(file.payload_overrides),
        config_file=file.source,
        redactor=redactor,
        sources=MappingProxyType(sources),
    )
    _check_consistency(settings)
    return settings


def _add_secret_values(redactor: Redactor, option: Option, parsed: Any) -> None:
    if option.key == "target.headers":
        redactor.add_values(v for _, v in parsed)
    elif option.key == "target.basic_auth":
        redactor.add_values([parsed[1]])
    elif isinstance(parsed, str):
        redactor.add_url_userinfo(parsed)


def _safe(exc: Exception) -> str:
    """An error about a secret option, without the value itself."""
    message = str(exc)
    return message.split(", got ", 1)[0] if ", got " in message else message


def _check_consistency(settings: Settings) -> None:
    run, target, n = settings.run, settings.target, settings.notifications
    problems = []
    if run.embedded and target.base_url and settings.sources.get("target.base_url", "").startswith("command"):
        problems.append("use either --embedded or --base-url, not both")
    if run.faults and not run.embedded:
        problems.append("--fault only applies to the embedded server (--embedded)")
    if run.fail_on == FailOn.NEW and run.baseline is None:
        problems.append("--fail-on new needs --baseline (the results.json of an earlier run)")
    if target.ca_bundle and not Path(target.ca_bundle).is_file():
        problems.append(f"--ca-bundle {target.ca_bundle}: no such file")
    if n.callback_url and _callback_host(n.callback_url) in ("0.0.0.0", "::", ""):
        problems.append(f"--callback-url {n.callback_url}: a server cannot call back to an unspecified address; "
                        "give the address the server reaches the kit at")
    if n.mode != NotificationMode.OFF and not n.callback_url and not _is_loopback(n.listen_host):
        problems.append(f"--listen {n.listen_host}:{n.listen_port} is not a loopback address: also give "
                        "--callback-url, the address the server must call (the listener binds only what you say)")
    if problems:
        raise UsageError("\n".join(problems))


def _callback_host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def effective(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(setting, environment variable, value shown with secrets masked, source) for every option."""
    rows = []
    for option in OPTIONS:
        section, name = option.key.split(".", 1)
        if option.key == "notifications.listen":
            value: Any = f"{settings.notifications.listen_host}:{settings.notifications.listen_port}"
        else:
            value = getattr(getattr(settings, section), name)
        if option.key == "target.headers":
            shown = ", ".join(f"{k}: {settings.redactor.headers([(k, v)])[0][1]}" for k, v in value) or "-"
        elif option.key == "target.basic_auth":
            shown = f"{value[0]}:********" if value else "-"
        elif isinstance(value, tuple | frozenset):
            shown = ", ".join(map(str, value)) or "-"
        elif option.key == "target.verify_tls":
            shown = "verify" if value else "insecure (not verified)"
        else:
            shown = "-" if value is None else str(value)
        rows.append((option.key, option.env, settings.redactor.text(shown), settings.sources.get(option.key, "")))
    return rows

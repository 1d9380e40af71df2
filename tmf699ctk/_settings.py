"""One frozen Settings object, built once: command line > environment > config file > defaults.

Every run option is declared once in ``OPTIONS`` (its settings key, environment variable and how
a text value is parsed). ``build_settings`` merges the four layers, validates every value in one
place and records where each value came from (``tmf699ctk config`` prints it). Nothing
downstream re-shapes or mutates settings.
"""

from __future__ import annotations

import math
import os
import re
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


class OAuth2AuthMethod(StrEnum):
    """How the client authenticates to the token endpoint (RFC 6749 §2.3.1)."""

    BASIC = "basic"  # client_secret_basic: HTTP Basic with client id and secret
    BODY = "body"  # client_secret_post: client_id and client_secret in the form body


class NotificationMode(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    MANDATORY = "mandatory"


class FailOn(StrEnum):
    """What makes `run` exit 1."""

    VERDICT = "verdict"  # a FAIL verdict
    NEW = "new"  # a blocking failure that the baseline did not have (needs --baseline)


@dataclass(frozen=True)
class OAuth2Settings:
    """OAuth2 client credentials (RFC 6749 §4.4): a bearer token for every request to the target."""

    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    audience: str | None = None
    auth_method: OAuth2AuthMethod = OAuth2AuthMethod.BASIC

    @property
    def enabled(self) -> bool:
        return self.token_url is not None


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
    oauth2: OAuth2Settings = field(default_factory=OAuth2Settings)
    client_cert: str | None = None  # PEM certificate (chain) presented for mutual TLS
    client_key: str | None = None  # its PEM private key, when not in the certificate file
    client_key_password_env: str | None = None  # the environment variable holding the key's passphrase
    client_key_password: str | None = field(default=None, repr=False)  # read from that variable


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
    max_time: float | None = None  # seconds the run may take, then it stops as if interrupted
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


# the longest wait any option may ask for: a day (float('inf') and 'nan' are numbers Python accepts)
MAX_SECONDS = 86_400.0


def _finite(number: float, value: Any) -> float:
    if not math.isfinite(number) or number > MAX_SECONDS:
        raise ValueError(f"must be a number of at most {MAX_SECONDS:g}, got {value!r}")
    return number


def _positive(kind: Callable[[str], float]) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        number = _finite(kind(value), value)
        if number <= 0:
            raise ValueError(f"must be positive, got {value!r}")
        return number

    return parse


def _non_negative(value: Any) -> float:
    number = _finite(float(value), value)
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
        try:
            number = int(float(text[: len(text) - len(unit)]) * units.get(unit, 1))
        except (ValueError, OverflowError):
            raise ValueError(f"expected a size such as 16MiB, 512KiB or a number of bytes, got {value!r}") from None
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
    return _sendable(name.strip(), value.strip())


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field name
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, spaces and tabs


def _sendable(name: str, value: str) -> tuple[str, str]:
    """A header HTTP can carry; else ValueError (before anything is sent, not on every request)."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name[:40]!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)")
    if not _FIELD_VALUE.fullmatch(value):  # never echo the value: it is often a token
        raise ValueError(f"the value of header {name} must be printable ASCII (no line breaks, no accents)")
    return name, value


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        return tuple(_sendable(str(k).strip(), str(v).strip()) for k, v in value.items())
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
    shown = _without_password(text)  # a message must not echo a password in the URL
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError as exc:
        raise ValueError(f"{shown!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL, got {shown!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not carry a query or fragment, got {shown!r}")
    return text.rstrip("/")


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if not (sep and at and ":" in userinfo):
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:********@{host}"


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


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _scope(value: Any) -> str:
    """Scopes as a list (config file) or space-separated text, sent space-separated (RFC 6749 §3.3)."""
    items = value if isinstance(value, list | tuple) else str(value).split()
    scope = " ".join(str(v).strip() for v in items if str(v).strip())
    if not scope:
        raise ValueError("must name at least one scope")
    return scope


def _env_name(value: Any) -> str:
    text = str(value).strip()
    if not text.replace("_", "a").isalnum() or text[0].isdigit() or not text.isascii():
        # a passphrase typed here by mistake must not be echoed
        raise ValueError("must be the name of an environment variable (letters, digits, _), not the passphrase")
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
    Option("target.oauth2.token_url", "--oauth2-token-url", _url),
    Option("target.oauth2.client_id", "--oauth2-client-id", _text),
    Option("target.oauth2.client_secret", "--oauth2-client-secret", _text, secret=True),
    Option("target.oauth2.scope", "--oauth2-scope", _scope),
    Option("target.oauth2.audience", "--oauth2-audience", _text),
    Option("target.oauth2.auth_method", "--oauth2-auth-method", _enum(OAuth2AuthMethod)),
    Option("target.client_cert", "--cert", str),
    Option("target.client_key", "--key", str),
    Option("target.client_key_password_env", "--key-password-env", _env_name),
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
    Option("run.max_time", "--max-time", _positive(float)),
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


def setting_value(settings: Settings, key: str) -> Any:
    """The value of one settings key (``target.timeout``, ``target.oauth2.scope``)."""
    if key == "notifications.listen":
        return f"{settings.notifications.listen_host}:{settings.notifications.listen_port}"
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _set(settings: Settings, key: str, value: Any) -> Settings:
    section, name = key.split(".", 1)
    if "." in name:  # a group inside a section, e.g. target.oauth2.token_url
        group, leaf = name.split(".", 1)
        outer = getattr(settings, section)
        inner = replace(getattr(outer, group), **{leaf: value})
        return replace(settings, **{section: replace(outer, **{group: inner})})
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
            ("config", _file_value(file.values, option.key), f"config file {file.source}"),
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
    if target.oauth2.client_secret:
        redactor.add_values([target.oauth2.client_secret])
        # client_secret_basic sends id:secret base64-encoded: an echo of it must not leak either
        redactor.add_credentials(target.oauth2.client_id or "", target.oauth2.client_secret)
    if target.client_key_password_env:
        password = env.get(target.client_key_password_env)
        if password is None:
            problems.append(f"--key-password-env {target.client_key_password_env}: that environment variable "
                            "is not set (it must hold the passphrase of the --key file)")
        else:
            redactor.add_values([password])
            settings = replace(settings, target=replace(target, client_key_password=password))
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
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


def _file_value(values: Mapping[str, Any], key: str) -> Any:
    """A config file value by settings key; groups are nested mappings (``target: oauth2: scope:``)."""
    if key in values:
        return values[key]
    group, _, leaf = key.rpartition(".")
    parent = values.get(group)
    return parent.get(leaf) if isinstance(parent, Mapping) else None


def _add_secret_values(redactor: Redactor, option: Option, parsed: Any) -> None:
    if option.key == "target.headers":
        redactor.add_values(v for _, v in parsed)
    elif option.key == "target.basic_auth":
        redactor.add_values([parsed[1]])
    elif option.key == "target.oauth2.client_secret":
        redactor.add_values([parsed])
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
    if target.ca_bundle and not os.path.isfile(target.ca_bundle):
        problems.append(f"--ca-bundle {target.ca_bundle}: no such file")
    problems += _oauth2_problems(settings) + _client_certificate_problems(target)
    if n.callback_url and _callback_host(n.callback_url) in ("0.0.0.0", "::", ""):
        problems.append(f"--callback-url {n.callback_url}: a server cannot call back to an unspecified address; "
                        "give the address the server reaches the kit at")
    if n.mode != NotificationMode.OFF and not n.callback_url and not _is_loopback(n.listen_host):
        problems.append(f"--listen {n.listen_host}:{n.listen_port} is not a loopback address: also give "
                        "--callback-url, the address the server must call (the listener binds only what you say)")
    if problems:
        raise UsageError("\n".join(problems))


def _oauth2_problems(settings: Settings) -> list[str]:
    oauth2, target = settings.target.oauth2, settings.target
    defaults = OAuth2Settings()
    given = [o.cli for o in OPTIONS if o.key.startswith("target.oauth2.")
             and setting_value(settings, o.key) != getattr(defaults, o.key.rsplit(".", 1)[1])]
    if not oauth2.enabled:
        return [f"{', '.join(given)}: also give --oauth2-token-url (or target.oauth2.token_url)"] if given else []
    problems = []
    if not oauth2.client_id:
        problems.append("--oauth2-token-url: also give --oauth2-client-id (or target.oauth2.client_id)")
    if not oauth2.client_secret:
        problems.append("--oauth2-token-url: also give the client secret: TMF699CTK_OAUTH2_CLIENT_SECRET, "
                        'target.oauth2.client_secret: "${YOUR_VARIABLE}" or --oauth2-client-secret')
    if target.basic_auth:
        problems.append("use either OAuth2 (--oauth2-token-url) or basic auth (--user), not both")
    if any(name.lower() == "authorization" for name, _ in target.headers):
        problems.append("use either OAuth2 (--oauth2-token-url) or an Authorization header (--header), not both")
    return problems


def _client_certificate_problems(target: TargetSettings) -> list[str]:
    if not target.client_cert:
        alone = (("--key", target.client_key), ("--key-password-env", target.client_key_password_env))
        return [f"{flag} only applies with --cert (a client certificate)" for flag, value in alone if value]
    missing = [f"{flag} {path}: no such file" for flag, path in (("--cert", target.client_cert),
                                                                  ("--key", target.client_key))
               if path and not os.path.isfile(path)]
    if missing:
        return missing
    from ._auth import client_certificate_problem

    problem = client_certificate_problem(target)
    return [problem] if problem else []


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
        value = setting_value(settings, option.key)
        if option.key == "target.headers":
            shown = ", ".join(f"{k}: {settings.redactor.headers([(k, v)])[0][1]}" for k, v in value) or "-"
        elif option.key == "target.basic_auth":
            shown = f"{value[0]}:********" if value else "-"
        elif option.key == "target.oauth2.client_secret":
            shown = "********" if value else "-"  # even one too short for the redactor to mask
        elif isinstance(value, tuple | frozenset):
            shown = ", ".join(map(str, value)) or "-"
        elif option.key == "target.verify_tls":
            shown = "verify" if value else "insecure (not verified)"
        else:
            shown = "-" if value is None else str(value)
        rows.append((option.key, option.env, settings.redactor.text(shown), settings.sources.get(option.key, "")))
    return rows

"""load -> plan -> execute -> results: the run as one function the CLI (and tests) call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ._config import Config, load_config
from ._exceptions import ConfigError, UsageError
from ._http import build_client, normalise_base_url
from ._listener import Listener, parse_listen
from ._results import RunResult
from ._runner import NotificationSettings, Runner, RunObserver
from ._scenarios import PROFILES, Scenario, load_scenarios, plan
from ._schemas import SchemaStore


@dataclass
class RunOptions:
    base_url: str | None = None
    embedded: bool = False
    faults: frozenset[str] = frozenset()
    config_path: Path | None = None
    profile: str = "full"
    scenario_paths: list[Path] = field(default_factory=list)
    only: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    user: str | None = None
    secret_headers: list[str] = field(default_factory=list)
    insecure: bool = False
    ca_bundle: str | None = None
    timeout: float | None = None
    proxy: str | None = None
    report_dir: Path | None = None
    notifications: str | None = None  # off | optional | mandatory
    listen: str | None = None  # HOST:PORT
    callback_url: str | None = None
    event_timeout: float | None = None


@dataclass
class Prepared:
    config: Config
    schemas: SchemaStore
    scenarios: list[Scenario]


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise UsageError(f"--header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def prepare(options: RunOptions) -> Prepared:
    """Load and validate everything up front: nothing is sent if any input is wrong."""
    if options.profile not in PROFILES:
        raise UsageError(f"--profile must be one of {', '.join(PROFILES)}")
    if options.embedded and options.base_url:
        raise UsageError("use either --embedded or --base-url, not both")
    if options.faults and not options.embedded:
        raise UsageError("--fault only applies to the embedded server (--embedded)")
    schemas = SchemaStore.load()
    config = load_config(options.config_path, schemas=schemas)
    target = config.target
    for text in options.headers:
        name, value = parse_header(text)
        target.headers[name] = value
    if options.user:
        username, sep, password = options.user.partition(":")
        if not sep:
            raise UsageError("--user expects 'name:password'")
        target.basic_auth = (username, password)
        config.redactor.add_values([password])
    config.redactor.secret_headers |= {h.lower() for h in options.secret_headers}
    config.redactor.add_values(v for k, v in target.headers.items() if config.redactor.is_secret_header(k))
    if options.insecure:
        target.verify_tls = False
    if options.ca_bundle:
        if not Path(options.ca_bundle).is_file():
            raise ConfigError(f"--ca-bundle {options.ca_bundle}: no such file")
        target.ca_bundle = options.ca_bundle
    if options.timeout is not None:
        if options.timeout <= 0:
            raise UsageError("--timeout must be positive")
        target.timeout = options.timeout
    if options.proxy:
        target.proxy = options.proxy
    if options.base_url:
        target.base_url = options.base_url
    _notification_options(options, config)
    if not options.embedded:
        if not target.base_url:
            raise UsageError("give --base-url URL (or base_url in the config file), or use --embedded")
        target.base_url = normalise_base_url(target.base_url)
    scenarios = plan(load_scenarios(options.scenario_paths or None), options.profile,
                     only=options.only, tags=options.tags)
    if not scenarios:
        raise UsageError("no scenario matches the profile, --scenario and --tag selection")
    return Prepared(config, schemas, scenarios)


def _notification_options(options: RunOptions, config: Config) -> None:
    n = config.notifications
    if options.notifications:
        if options.notifications not in ("off", "optional", "mandatory"):
            raise UsageError("--notifications must be off, optional or mandatory")
        n.mode = options.notifications
    if options.listen:
        n.listen_host, n.listen_port = parse_listen(options.listen)
    if options.callback_url:
        if not options.callback_url.startswith(("http://", "https://")):
            raise UsageError("--callback-url must be an http(s) URL")
        n.callback_url = options.callback_url
    if options.event_timeout is not None:
        if options.event_timeout <= 0:
            raise UsageError("--event-timeout must be positive")
        n.event_timeout = options.event_timeout


@contextmanager
def _listener(prepared: Prepared) -> Iterator[Listener | None]:
    """The notification listener, for the run only, when a planned scenario needs it."""
    n = prepared.config.notifications
    needed = any("notifications" in s.requires for s in prepared.scenarios)
    if n.mode == "off" or not needed:
        yield None
        return
    with Listener(n.listen_host, n.listen_port, n.callback_url) as listener:
        yield listener


@contextmanager
def _target(options: RunOptions, prepared: Prepared) -> Iterator[tuple[str, dict[str, object]]]:
    if not options.embedded:
        yield str(prepared.config.target.base_url), {"embedded": False}
        return
    from .server import ReferenceServer

    server = ReferenceServer(faults=options.faults, schemas=prepared.schemas).start()
    try:
        yield server.url, {"embedded": True, "faults": sorted(options.faults)}
    finally:
        server.stop()


def default_report_dir() -> Path:
    return Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")


def execute(options: RunOptions, prepared: Prepared, observer: RunObserver | None = None) -> tuple[RunResult, Path]:
    """Run the planned scenarios and write results.json; returns the results and the report folder."""
    report_dir = options.report_dir or default_report_dir()
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create report folder {report_dir}: {exc.strerror or exc}") from exc
    n = prepared.config.notifications
    settings = NotificationSettings(n.mode, n.event_timeout, n.quiet_period)
    with (_target(options, prepared) as (base_url, info), build_client(prepared.config.target) as client,
          _listener(prepared) as listener):
        runner = Runner(client, prepared.config, prepared.schemas, base_url, observer, listener, settings)
        result = runner.run(prepared.scenarios, options.profile, info)
    result.write(report_dir / "results.json")
    return result, report_dir

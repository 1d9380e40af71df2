"""The plan: which scenarios run, each expectation's level resolved, and the run's scope.

Policy lives here, not in the runner: a rule's level under the chosen notification mode, the
rules applied automatically in a profile, and whether the run covers the whole bundled suite
(the scope recorded as evidence, with the suite's digest).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from ._apis import API_VERSIONS, DEFAULT_VERSION, ApiSpec, api_spec, version_from_base_url
from ._config import effective_payloads, validate_payloads
from ._exceptions import UsageError
from ._resources import data_dir
from ._results import Level
from ._rules import BEYOND_OFFICIAL_LABEL, RULES, LevelPolicy
from ._scenarios import Expectation, Scenario, Step, canonical_json, load_scenarios, loaded_canonical_json, select
from ._schemas import SchemaStore
from ._settings import NotificationMode, Profile, Settings

SUPPORTED_VERSIONS = tuple(API_VERSIONS)


@dataclass(frozen=True)
class Plan:
    scenarios: tuple[Scenario, ...]
    profile: Profile
    api_version: str
    schemas: SchemaStore
    scope: dict[str, Any]
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource -> name -> body (templates)
    version_note: str = ""  # how the version was chosen, for the terminal

    @property
    def api(self) -> ApiSpec:
        return api_spec(self.api_version)


def choose_version(settings: Settings) -> tuple[str, str]:
    """(the TMF699 version under test, how it was chosen): the option, else the base URL's /vN,
    else 4.0.0."""
    version, note = settings.target.api_version, "from " + settings.sources.get("target.api_version", "the option")
    if version is None and settings.target.base_url:
        version = version_from_base_url(settings.target.base_url)
        note = f"from the base URL, which ends in /v{version.split('.')[0]}" if version else ""
    if version is None:
        version, note = DEFAULT_VERSION, "the default (no --api-version, and the base URL names no /v4 or /v5)"
    if version not in SUPPORTED_VERSIONS:
        raise UsageError(f"TMF699 v{version} is not supported by this kit; supported: {', '.join(SUPPORTED_VERSIONS)}")
    return version, note


def api_version(settings: Settings) -> str:
    """The TMF699 version under test: the option, else the base URL's /vN, else 4.0.0."""
    return choose_version(settings)[0]


def _resolve(step: Step, settings: Settings, profile: Profile, version: str = DEFAULT_VERSION) -> Step:
    expectations = []
    mandatory_events = settings.notifications.mode == NotificationMode.MANDATORY
    for e in step.expect:
        level, rule = e.level, e.rule
        if rule.level_policy == LevelPolicy.NOTIFICATIONS and mandatory_events:
            level = Level.MANDATORY  # --notifications mandatory: delivery is required
        if rule.level_policy == LevelPolicy.BEYOND_OFFICIAL and profile == Profile.OFFICIAL:
            # the official profile gives the official kit's verdict: a stricter finding only warns
            level = Level.RECOMMENDED
            rule = replace(rule, title=f"{rule.title} ({BEYOND_OFFICIAL_LABEL})")
        expectations.append(replace(e, level=level, rule=rule))
    if step.request is not None:
        listed = {e.rule.id for e in step.expect}
        expectations += [Expectation(rule, rule.level, dict(rule.defaults), auto=True)
                         for rule in RULES if profile in rule.auto_in and rule.id not in listed
                         and rule.applies_to(version)]
    return replace(step, expect=tuple(expectations))


def resolve(scenario: Scenario, settings: Settings, profile: Profile, version: str = DEFAULT_VERSION) -> Scenario:
    return replace(
        scenario,
        steps=tuple(_resolve(s, settings, profile, version) for s in scenario.steps),
        teardown=tuple(_resolve(s, settings, profile, version) for s in scenario.teardown),
    )


def build_plan(settings: Settings) -> Plan:
    """Load and validate everything up front: nothing is sent if any input is wrong."""
    version, note = choose_version(settings)
    api = api_spec(version)
    schemas = SchemaStore.load(api.schemas)
    payloads = effective_payloads(settings.payloads, api)
    validate_payloads(payloads, schemas, settings.config_file, api)
    profile = settings.run.profile
    custom = list(settings.run.scenario_paths)
    loaded = load_scenarios(custom) if custom else list(_bundled(version))
    selected = select(loaded, profile, only=list(settings.run.only), tags=list(settings.run.tags),
                      api_version=version)
    if not selected:
        hint = ""
        if not any(s.applies_to(version) for s in loaded):
            hint = (f": none of the scenario files is for v{version} (a file declares `api_versions: "
                    f"[\"{version}\"]`; without it, it is a 4.0.0 scenario)")
        elif profile == Profile.OFFICIAL:
            hint = ": the official profile is TM Forum's v4.0.0 kit"
        raise UsageError(f"no TMF699 v{version} scenario matches the profile, --scenario and --tag selection{hint}")
    scenarios = tuple(resolve(s, settings, profile, version) for s in selected)
    return Plan(scenarios, profile, version, schemas, _scope(settings, version, profile, selected), payloads, note)


# -- scope: what ran, as evidence -----------------------------------------------------------------


def _canonical_yaml(path: Path) -> str:
    """The file's data in canonical JSON: as the scenario loader parsed this version of it, or
    parsed here (a file the loader did not read, or whose data is not JSON)."""
    known = loaded_canonical_json(path)
    if known is not None:
        return known
    stat = path.stat()
    return _parsed(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _parsed(path: str, mtime_ns: int, size: int) -> str:
    """A scenario file's canonical JSON, parsed once per version of the file."""
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return canonical_json(data)


@lru_cache(maxsize=2)  # one per bundled version: a process that runs both does not parse one again
def _bundled(version: str) -> tuple[Scenario, ...]:
    """The installed suite of one version (it does not change while the kit runs)."""
    return tuple(load_scenarios(None, version))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=64)
def _canonical_schema(path: str, mtime_ns: int, size: int) -> str:
    return json.dumps(json.loads(Path(path).read_text(encoding="utf-8")), sort_keys=True)


def suite_digest(scenarios: list[tuple[str, str]], version: str) -> str:
    """SHA-256 of what a suite is: its scenarios (parsed, so formatting does not count: each file's
    ``canonical_json``) and the schemas it validates against, in a canonical JSON form."""
    digest = hashlib.sha256()
    for name, text in sorted(scenarios, key=lambda item: item[0]):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    folder = data_dir("schemas") / f"tmf699-v{version}"
    for path in sorted(folder.glob("*.json")):
        stat = path.stat()
        text = _canonical_schema(str(path), stat.st_mtime_ns, stat.st_size)
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def installed_suite_digest(profile: str, version: str) -> str:
    """The digest of the bundled suite of ``profile`` in this installation."""
    files = dict.fromkeys(s.file for s in _bundled(version) if profile in s.profiles and s.applies_to(version))
    return suite_digest([(file, _canonical_yaml(_bundled_path(file))) for file in files], version)


def _bundled_path(display_name: str) -> Path:
    return data_dir("scenarios") / Path(display_name).relative_to("scenarios")


def _scope(settings: Settings, version: str, profile: Profile, selected: list[Scenario]) -> dict[str, Any]:
    custom_files = []
    ran: list[tuple[str, Any]] = []
    bundled_root = data_dir("scenarios").resolve()
    for scenario in selected:
        # where the file was read from (its display name is relative to the bundled folder, which a
        # --scenarios path into that folder from another directory would not find)
        path = scenario.path if scenario.path is not None else Path(scenario.file)
        if scenario.path is None and not path.is_absolute() and scenario.file.startswith("scenarios/") \
                and not settings.run.scenario_paths:
            path = _bundled_path(scenario.file)
        if any(file == scenario.file for file, _ in ran):
            continue  # a matrix file describes several scenarios
        ran.append((scenario.file, _canonical_yaml(path)))
        if not path.resolve().is_relative_to(bundled_root):
            custom_files.append({"file": scenario.file, "sha256": _file_digest(path)})
    digest = suite_digest(ran, version)
    bundled = installed_suite_digest(profile.value, version)
    reasons = []
    if settings.run.only or settings.run.tags:
        shown = ", ".join([*settings.run.only, *(f"tag {t}" for t in settings.run.tags)])
        whole = sum(1 for s in _bundled(version) if profile.value in s.profiles and s.applies_to(version))
        reasons.append(f"only part of the suite was selected ({shown}): {len(selected)} of the {whole} "
                       f"scenarios of the {profile.value} profile")
    if custom_files:
        bundled_ids = {s.id for s in _bundled(version)}
        named = [s.file + (f" (reuses the bundled ID {s.id})" if s.id in bundled_ids else "")
                 for s in selected if s.file in {c["file"] for c in custom_files}]
        reasons.append(f"{len(custom_files)} scenario file(s) are not the bundled suite's: {', '.join(named)}")
    if digest != bundled and not reasons:
        reasons.append("the scenarios that ran differ from the bundled suite of this profile")
    return {
        "kit_version": __version__,
        "api_version": version,
        "profile": profile.value,
        "suite_sha256": digest,
        "bundled_suite_sha256": bundled,
        "scenarios": [s.id for s in selected],
        "selection": {"scenarios": list(settings.run.only), "tags": list(settings.run.tags)},
        "custom_files": custom_files,
        "weakened": settings.weakening(),
        # the values behind "weakened", so `verify` can recompute it (an edit of one contradicts the other)
        "options": {"notifications": settings.notifications.mode.value, "verify_tls": settings.target.verify_tls,
                    "timeout": settings.target.timeout, "payload_overrides": list(settings.payload_overrides)},
        "complete": digest == bundled and not reasons,
        "partial_reasons": reasons,
        "workers": settings.run.workers,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }

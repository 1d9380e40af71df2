"""Whether a results.json is evidence that holds together (for ``verify``).

Each function returns the problems it finds, each naming the field: the document against the
shipped results schema, its seal, the stored verdict and summary against the checks, the scope
against the checks and against the suite installed with this kit.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from ._plan import _bundled as bundled_scenarios
from ._plan import installed_suite_digest, resolve
from ._resources import package_file
from ._results import SEAL, Level, RunResult
from ._rules import ACCEPTED_RULE, BY_ID
from ._scenarios import Scenario
from ._settings import NotificationMode, NotificationSettings, Profile, Settings, TargetSettings

TIME_SLACK_MS = 2000.0  # the duration is timed by a monotonic clock, the ends by the wall clock


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = _time(value)  # RFC 3339 with a zone; fromisoformat alone would accept a bare date
    return "T" in value.upper() and parsed is not None and parsed.tzinfo is not None


@cache
def _results_validator() -> Draft202012Validator:
    schema = json.loads(package_file("results.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=_FORMATS)


def _where(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def schema_problems(data: Any) -> list[str]:
    """The document against the shipped results.schema.json (at most 10, each naming its field)."""
    errors = sorted(_results_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    problems = [f"results.json does not match the results schema at {_where(e.absolute_path)}: {e.message[:200]}"
                for e in errors[:10]]
    if len(errors) > 10:
        problems.append(f"... and {len(errors) - 10} more schema problems")
    return problems


def seal_problems(run: RunResult) -> list[str]:
    stored = run.stored or {}
    if not stored.get(SEAL):
        return [f"results.json carries no {SEAL}: it was written by an older kit, or the seal was removed"]
    if stored[SEAL] != stored.get("sealed"):
        return [f"results.json was edited after it was written: its {SEAL} is {stored[SEAL]}, but its content "
                f"gives {stored.get('sealed')}"]
    return []


def _differences(stored: Any, actual: Any, path: str) -> list[str]:
    if isinstance(stored, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(stored) | set(actual), key=str):
            found += _differences(stored.get(key), actual.get(key), f"{path}.{key}")
        return found
    return [] if stored == actual else [f"{path} is {stored!r}, but the checks give {actual!r}"]


def derived_problems(run: RunResult) -> list[str]:
    """The stored verdict and summary against the ones the checks give (never trusted)."""
    stored = run.stored or {}
    problems = []
    if stored.get("verdict") != run.verdict:
        problems.append(f"verdict is {stored.get('verdict')!r}, but the checks give {run.verdict!r}")
    problems += _differences(stored.get("summary"), run.summary, "summary")
    return problems


# -- the scope ---------------------------------------------------------------------------------


def _planned(scenario: Scenario, profile: str, mode: str | None,
             version: str = "4.0.0") -> dict[str, set[tuple[str, Level]]]:
    """For each rule a bundled scenario applies: the (title, level) pairs the plan gives it, under
    the run's notifications mode (every mode when it is not recorded). The plan's own policy
    decides, so verify cannot drift from it."""
    allowed: dict[str, set[tuple[str, Level]]] = {}
    for each in [NotificationMode(mode)] if mode in set(NotificationMode) else list(NotificationMode):
        settings = Settings(notifications=NotificationSettings(mode=each))
        resolved = resolve(scenario, settings, Profile(profile), version)
        for step in (*resolved.steps, *resolved.teardown):
            for e in step.expect:
                allowed.setdefault(e.rule.id, set()).add((e.rule.title, e.level))
    if any(step.accepted for step in (*scenario.steps, *scenario.teardown)):
        rule = BY_ID[ACCEPTED_RULE]  # the runner judges a 202 answer's polling with it
        allowed.setdefault(rule.id, set()).add((rule.title, rule.level))
    return allowed


@cache
def _installed(profile: str, version: str) -> str:
    return installed_suite_digest(profile, version)


@cache
def _bundled(profile: str, version: str = "4.0.0") -> dict[str, Scenario]:
    return {s.id: s for s in bundled_scenarios(version) if profile in s.profiles and s.applies_to(version)}


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def scope_problems(run: RunResult) -> list[str]:
    """The scope against the rest of the file and the suite installed with this kit."""
    scope = run.scope or {}
    if not scope:
        return ["scope is missing: nothing says what ran"]
    problems: list[str] = []
    same = (("kit_version", run.tool.get("version")), ("api_version", run.spec.get("version")),
            ("profile", run.profile), ("started_at", run.started_at), ("ended_at", run.ended_at))
    for key, value in same:
        if key in scope and scope[key] != value:
            problems.append(f"scope.{key} is {scope[key]!r}, but the run says {value!r}")
    ran = [s.id for s in run.scenarios]
    listed = list(scope.get("scenarios", []))
    if run.aborted:
        if not set(ran) <= set(listed):
            problems.append(f"scope.scenarios ({', '.join(listed)}) does not list every scenario that ran "
                            f"({', '.join(ran)})")
    elif sorted(ran) != sorted(listed):
        problems.append(f"scope.scenarios lists {', '.join(listed) or 'none'}, but the checks come from "
                        f"{', '.join(ran) or 'none'}")
    version = str(scope.get("api_version", run.spec.get("version")))
    bundled = _bundled(run.profile, version)
    installed = _installed(run.profile, version)
    if scope.get("bundled_suite_sha256") != installed:
        problems.append(f"scope.bundled_suite_sha256 is {scope.get('bundled_suite_sha256')}, but this kit's "
                        f"{run.profile} suite is {installed}")
    selection = scope.get("selection") or {}
    custom = scope.get("custom_files") or []
    reasons = scope.get("partial_reasons") or []
    if scope.get("complete"):
        if scope.get("suite_sha256") != installed:
            problems.append(f"scope.complete is true, but scope.suite_sha256 {scope.get('suite_sha256')} is not "
                            f"this kit's {run.profile} suite ({installed})")
        if set(listed) != set(bundled):
            problems.append(f"scope.complete is true with {len(set(listed))} scenarios, but the {run.profile} "
                            f"suite has {len(bundled)}")
        if not run.aborted and set(ran) != set(bundled):
            problems.append(f"scope.complete is true, but checks come from {len(set(ran))} of the "
                            f"{len(bundled)} scenarios of the {run.profile} suite")
        if selection.get("scenarios") or selection.get("tags"):
            problems.append("scope.complete is true, but scope.selection chose part of the suite")
        if custom:
            problems.append("scope.complete is true, but scope.custom_files lists scenario files not bundled")
        if reasons:
            problems.append("scope.complete is true, but scope.partial_reasons gives reasons it is not")
    elif not reasons:
        problems.append("scope.complete is false, but scope.partial_reasons gives no reason")
    problems += _weakening_problems(run)
    start, end = _time(run.started_at), _time(run.ended_at)
    if start and end:
        wall = (end - start).total_seconds() * 1000
        if wall < 0:
            problems.append(f"ended_at {run.ended_at} is before started_at {run.started_at}")
        elif abs(wall - run.duration_ms) > TIME_SLACK_MS + wall * 0.01:
            problems.append(f"duration_ms is {run.duration_ms}, but started_at and ended_at are {wall:.0f} ms apart")
    return problems


def _weakening_problems(run: RunResult) -> list[str]:
    """scope.weakened against the option values recorded beside it (and the listener's mode)."""
    scope = run.scope or {}
    options = scope.get("options")
    weakened = scope.get("weakened") or {}
    problems = []
    mode = (run.notifications or {}).get("mode")
    if options is not None and mode is not None and options.get("notifications") != mode:
        problems.append(f"scope.options.notifications is {options.get('notifications')!r}, but the listener "
                        f"ran in mode {mode!r}")
    if options is None:
        return [*problems, "scope.options is missing: nothing shows scope.weakened is whole"]
    try:
        expected = Settings(
            target=TargetSettings(verify_tls=bool(options["verify_tls"]), timeout=float(options["timeout"])),
            notifications=NotificationSettings(mode=NotificationMode(options["notifications"])),
            payload_overrides=tuple(options["payload_overrides"]),
        ).weakening()
    except (KeyError, TypeError, ValueError) as exc:
        return [*problems, f"scope.options cannot be read: {exc}"]
    if expected != weakened:
        missing = sorted(set(expected) - set(weakened))
        extra = sorted(set(weakened) - set(expected))
        shown = ", ".join([*(f"lacks {k}" for k in missing), *(f"adds {k}" for k in extra)]) or "words differ"
        problems.append(f"scope.weakened does not match the options of the run (scope.options): {shown}")
    return problems


def check_problems(run: RunResult) -> list[str]:
    """Each check against the rule catalogue, and its title and level against the plan of the
    bundled scenario it comes from."""
    scope = run.scope or {}
    custom = {c.get("file") for c in scope.get("custom_files") or []}
    mode = (scope.get("options") or {}).get("notifications")
    version = str(scope.get("api_version", run.spec.get("version")))
    bundled = _bundled(run.profile, version)
    problems: list[str] = []
    for i, sc in enumerate(run.scenarios):
        plan = bundled.get(sc.id) if sc.file not in custom else None
        allowed = _planned(plan, run.profile, mode, version) if plan is not None and plan.file == sc.file else None
        for j, st in enumerate(sc.steps):
            for k, c in enumerate(st.checks):
                where = f"scenarios[{i}].steps[{j}].checks[{k}]"
                rule = BY_ID.get(c.rule_id)
                if rule is None:
                    problems.append(f"{where}.rule_id {c.rule_id!r} is no rule of this kit")
                    continue
                if c.family != rule.family or not c.title.startswith(rule.title):
                    problems.append(f"{where}: title or family of {c.rule_id} differs from the rule catalogue")
                if allowed is not None:
                    pairs = allowed.get(c.rule_id)
                    if pairs is None:
                        problems.append(f"{where}: {sc.id} applies no rule {c.rule_id}")
                    elif (c.title, c.level) not in pairs:
                        levels = " or ".join(sorted({lv.value for _, lv in pairs}))
                        titles = {t for t, _ in pairs}
                        problems.append(f"{where}.level is {c.level.value!r}, but {sc.id} gives {c.rule_id} {levels}"
                                        if c.title in titles else
                                        f"{where}.title is {c.title!r}, but {sc.id} gives {c.rule_id} "
                                        f"{' or '.join(map(repr, sorted(titles)))}")
                if c.not_supported and c.status.value != "skipped":
                    problems.append(f"{where}: not_supported with status {c.status.value!r} (only a skipped "
                                    "check can be not supported)")
    return problems


def read_checked(data: Any) -> tuple[RunResult | None, list[str]]:
    """The results (None when they cannot be read as such) and every problem ``verify`` finds in
    them, apart from the report's rendering."""
    problems = schema_problems(data)
    if problems:
        return None, problems
    try:
        run = RunResult.from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return None, [f"results.json cannot be read as tmf699ctk results: {type(exc).__name__}: {exc}"]
    problems += seal_problems(run)
    problems += derived_problems(run)
    problems += scope_problems(run)
    problems += check_problems(run)
    return run, problems

"""Scenario files: load, validate against the scenario format schema, resolve rule IDs.

Every problem is reported as ``file:line: message`` before any request is sent.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from . import _jsonpath
from ._exceptions import ScenarioError
from ._resources import data_dir, package_file
from ._results import Level
from ._rule_args import argument_problems, placeholder_problems
from ._rules import BY_ID, Context, Rule
from ._templating import (
    TemplateProblem,
    check_syntax,
    has_template,
    is_whole_expression,
    names_used,
    render,
    sandbox_refusals,
    templates_in,
    undefined_names,
)
from ._yaml import Location, YamlProblem, error_location, line_for, load_with_lines, read_text

PROFILES = ("official", "full")  # see _settings.Profile
DEFAULT_API_VERSIONS = ("4.0.0",)  # a scenario file without `api_versions:` is a v4 scenario
ACCEPTED = ("appears", "changes", "disappears")  # what a 202 Accepted answer to a step promises
NO_BODY = object()
# what every template may read (the runner defines them); callback_url needs the listener
GLOBALS = ("payloads", "run_id", "base_url")
LISTENER_GLOBALS = ("callback_url",)
# step keys whose strings are templates; `body` is sent as written, `save` holds JSON paths
_TEMPLATED_KEYS = ("name", "request", "expect", "wait_event")


@dataclass(frozen=True)
class Expectation:
    rule: Rule
    level: Level
    args: dict[str, Any]
    auto: bool = False  # added by the plan (e.g. the media-type rule): only for responses with a body


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str | None = None
    url: str | None = None
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = NO_BODY
    body: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class WaitSpec:
    """Wait for a notification instead of sending a request."""

    subscription: str
    type: str | None = None
    about: str | None = None
    absent: bool = False


@dataclass(frozen=True)
class NegotiateSpec:
    """Try each value of ``variable`` while the server refuses the request with a ``retry_on``
    status; the scenario's later steps use the value it accepted."""

    variable: str
    values: tuple[Any, ...]
    retry_on: tuple[int, ...]
    judged_by: str | None = None  # the rule (in the step's expect) judging the first value


@dataclass(frozen=True)
class ReduceSpec:
    """When the JSON body is refused with a ``retry_on`` status, find the top-level attributes the
    server rejects and go on with the body it accepts (saved as ``variable``)."""

    variable: str
    retry_on: tuple[int, ...]
    keep: tuple[str, ...] = ()
    judged_by: str | None = None  # the rule (in the step's expect) failing once, naming them


@dataclass(frozen=True)
class Step:
    name: str
    request: RequestSpec | None
    expect: tuple[Expectation, ...]
    save: dict[str, Any]
    feature: str | None
    declines: tuple[int, ...]
    line: int
    variables: dict[str, Any] = field(default_factory=dict)
    wait: WaitSpec | None = None
    group: tuple[int, int] | None = None  # consecutive `concurrent: true` steps (and their iterations) share one
    collect: bool = False  # a `for_each` step: saved values are collected into lists, in order
    iteration: int = 0  # which value of the `for_each` this step is
    negotiate: NegotiateSpec | None = None
    reduce: ReduceSpec | None = None
    accepted: str | None = None  # on 202 Accepted, poll until the resource appears / changes / disappears
    shared: bool = False  # `shared: true`: an exclusive scenario's exclusive part ends before this step


@dataclass(frozen=True, eq=False)  # identity: two loads of one file are two scenarios
class Scenario:
    id: str
    title: str
    description: str
    tags: tuple[str, ...]
    profiles: tuple[str, ...]
    steps: tuple[Step, ...]
    teardown: tuple[Step, ...]
    file: str
    requires: tuple[str, ...] = ()
    path: Path | None = None  # where the file was read from
    # runs without the other scenarios: "" (no), the scenario's own id (alone), or a group name
    # (with the scenarios of that group only: they may share the server with each other)
    exclusive: str = ""
    api_versions: tuple[str, ...] = DEFAULT_API_VERSIONS  # the TMF699 versions it tests
    # an exclusive scenario's first step that no longer needs the server to itself (`shared: true`);
    # its later steps and its cleanup run alongside the others. None: exclusive up to its cleanup
    shared_from: int | None = None

    def applies_to(self, version: str) -> bool:
        return version in self.api_versions


_validator: Draft202012Validator | None = None


def _format_validator() -> Draft202012Validator:
    global _validator
    if _validator is None:
        schema = json.loads(package_file("scenario.schema.json").read_text(encoding="utf-8"))
        _validator = Draft202012Validator(schema)
    return _validator


def _schema_message(error: ValidationError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(top level)"
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = min(error.context, key=lambda e: (-len(e.absolute_path), e.message))
        return f"{where.lstrip('.')}: {best.message}"
    return f"{where.lstrip('.')}: {error.message}"


class _Problems:
    """Problems found in one file, each as ``file:line: message``."""

    def __init__(self, file: str, lines: dict[Location, int]) -> None:
        self.file = file
        self.lines = lines
        self._found: list[tuple[int, str]] = []

    def add(self, path: Location, message: str) -> None:
        self._found.append((line_for(self.lines, path), message))

    @property
    def items(self) -> list[str]:
        """In the order of the file's lines (a stable sort keeps one line's problems in order)."""
        return [f"{self.file}:{line}: {message}" for line, message in sorted(self._found, key=lambda f: f[0])]


def _locations(value: Any, path: Location) -> list[tuple[Location, str]]:
    """Every template string in ``value`` with where it is (a key's location is its own)."""
    found: list[tuple[Location, str]] = []
    if isinstance(value, str):
        if has_template(value):
            found.append((path, value))
    elif isinstance(value, dict):
        for key, sub in value.items():
            if has_template(key):
                found.append(((*path, key), key))
            found += _locations(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _locations(sub, (*path, index))
    return found


class _Names:
    """What a step's templates may read: the globals, the loop variable, earlier steps' saves."""

    def __init__(self, listener: bool) -> None:
        self.listener = listener
        self.saved: dict[str, str] = {}  # name -> the step that saves it

    def defined(self, loop: dict[str, Any] | None) -> list[str]:
        return [*GLOBALS, *(LISTENER_GLOBALS if self.listener else ()), *self.saved, *(loop or {})]

    def explain(self, name: str, text: str, defined: list[str], later: dict[str, str]) -> str:
        if name in LISTENER_GLOBALS and not self.listener:
            return (f"{name} in {text!r} is defined only in a scenario with `requires: [notifications]` "
                    "(the kit's listener gives it)")
        if name in later:
            return f"{name!r} in {text!r} is saved only later, by step {later[name]!r}: not defined yet here"
        close = difflib.get_close_matches(name, defined, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"undefined variable {name!r} in {text!r} (defined here: {', '.join(defined)}){hint}"


def _check_templates(value: Any, path: Location, defined: list[str], names: _Names,
                     later: dict[str, str], problems: _Problems) -> None:
    """Syntax, sandbox refusals and undefined names of every template in ``value``."""
    for where, text in _locations(value, path):
        error = check_syntax(text)
        if error:
            problems.add(where, f"template syntax error in {text!r}: {error}")
            continue
        for refusal in sandbox_refusals(text):
            problems.add(where, f"refused by the template sandbox: {text!r} {refusal}")
        for name in undefined_names(text, defined):
            problems.add(where, names.explain(name, text, defined, later))


def _check_save(save: dict[str, Any], path: Location, problems: _Problems) -> None:
    for name, source in save.items():
        if isinstance(source, dict) and "path" in source:
            source = source["path"]
        if isinstance(source, str):
            error = _jsonpath.syntax_error(source)
            if error:
                problems.add((*path, name), f"save {name}: {error}")


def _check_arguments(rule: Rule, spec: dict[str, Any], path: Location, problems: _Problems) -> None:
    """Each argument against the rule's argument schema; templated ones are checked once rendered."""
    literal = {}
    for name, value in spec.items():
        if not any(True for _ in templates_in(value)):
            literal[name] = value
        elif isinstance(value, str) and not is_whole_expression(value):
            needs = placeholder_problems(rule, name)
            if needs:
                problems.add((*path, name), f"rule {rule.id}: {needs}")
    for found in argument_problems(rule, literal):
        problems.add((*path, found.name), f"rule {rule.id}: {found.message}")


@cache
def _parameters(check: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    """A check's parameters (a suite names ~40 checks in ~240 expectations)."""
    return inspect.signature(check).parameters


def _expectation(raw: Any, path: Location, problems: _Problems,
                 versions: tuple[str, ...] = DEFAULT_API_VERSIONS) -> Expectation | None:
    spec = {"rule": raw} if isinstance(raw, str) else dict(raw)
    rule = BY_ID.get(spec.pop("rule"))
    if rule is None:
        problems.add(path, f"unknown rule {raw if isinstance(raw, str) else raw['rule']!r} "
                           "(see `tmf699ctk list`)")
        return None
    other = [v for v in versions if not rule.applies_to(v)]
    if other:
        problems.add(path, f"rule {rule.id} does not apply to TMF699 v{', v'.join(other)} (it applies to "
                           f"v{', v'.join(sorted(rule.versions))}; see docs/rules.md)")
    level = Level(spec.pop("level", rule.level))
    params = _parameters(rule.check)
    accepted = [p for p in params if p != "ctx"]
    for name in spec:
        if name not in params:
            problems.add((*path, name), f"rule {rule.id} takes no argument {name!r} "
                                        f"(accepted: {', '.join(accepted) or 'none'})")
    _check_arguments(rule, {k: v for k, v in spec.items() if k in params}, path, problems)
    args = {**rule.defaults, **spec}
    missing = [n for n, p in params.items() if n != "ctx" and p.default is p.empty and n not in args]
    if missing:
        problems.add(path, f"rule {rule.id} needs {', '.join(missing)}")
    return Expectation(rule, level, args)


def _check_contexts(raw: dict[str, Any], expect: list[tuple[int, Expectation]], path: Location, names: _Names,
                    problems: _Problems) -> None:
    """A notification rule in a request step (or an HTTP rule in a wait) would examine the wrong thing."""
    waits = "wait_event" in raw
    if waits and not names.listener:
        problems.add((*path, "wait_event"), "wait_event needs the kit's listener: add `requires: [notifications]` "
                                            "to the scenario")
    for i, e in expect:
        if waits and e.rule.context == Context.RESPONSE:
            problems.add((*path, "expect", i), f"rule {e.rule.id} examines an HTTP response, but this step waits "
                                               "for a notification")
        elif not waits and e.rule.context == Context.EVENT:
            problems.add((*path, "expect", i), f"rule {e.rule.id} examines a notification: use it in a step with "
                                               "wait_event")


def _blocks(raw_steps: list[dict[str, Any]], base: Location, problems: _Problems) -> list[tuple[int, int] | None]:
    """Consecutive steps with the same `concurrent` value (true, or a block name that separates two
    blocks that follow each other) form one block, sent at the same time (with every iteration of
    their `for_each`); a step may not use what another step of its block saves."""
    groups: list[tuple[int, int] | None] = []
    start: int | None = None
    previous: Any = None
    for index, raw in enumerate(raw_steps):
        label = raw.get("concurrent") or None
        start = None if label is None else (start if start is not None and label == previous else index)
        previous = label
        groups.append(None if start is None else (len(base), start))
    for index, raw in enumerate(raw_steps):
        group = groups[index]
        if group is None:
            continue
        saved_by_others = {name for other, step in enumerate(raw_steps)
                           if other != index and groups[other] == group for name in step.get("save", {})}
        used = names_used({k: v for k, v in raw.items() if k not in ("name", "save")}) & saved_by_others
        if used:
            problems.add((*base, index), f"this step uses {', '.join(sorted(used))}, saved by another step of "
                                         "its concurrent block: they run at the same time (remove `concurrent`, or "
                                         "give the blocks different names: `concurrent: <name>`)")
    return groups


def _steps(raw_steps: list[dict[str, Any]], base: Location, problems: _Problems, names: _Names,
           versions: tuple[str, ...] = DEFAULT_API_VERSIONS, matrix: dict[str, Any] | None = None) -> tuple[Step, ...]:
    steps: list[Step] = []
    blocks = _blocks(raw_steps, base, problems)
    saved_later = {name: raw["name"] for raw in raw_steps
                   for name in [*raw.get("save", {}), *(raw[k]["variable"] for k in ("negotiate", "reduce")
                                                        if isinstance(raw.get(k), dict))]}
    for index, raw in enumerate(raw_steps):
        group = blocks[index]
        path = (*base, index)
        if "when" in raw and not _holds(raw["when"], matrix or {}, (*path, "when"), problems):
            continue
        loop = raw.get("for_each")
        # a negotiated value, or the body a reduce settled on, is defined for this step and later ones
        adapted = [raw[key]["variable"] for key in ("negotiate", "reduce") if isinstance(raw.get(key), dict)]
        defined = [*names.defined(loop), *adapted, *(matrix or {})]
        later = {n: step for n, step in saved_later.items() if n not in defined}
        for key in _TEMPLATED_KEYS:
            if key in raw:
                _check_templates(raw[key], (*path, key), defined, names, later, problems)
        _check_save(raw.get("save", {}), (*path, "save"), problems)
        indexed = [(i, e) for i, item in enumerate(raw.get("expect", []))
                   if (e := _expectation(item, (*path, "expect", i), problems, versions)) is not None]
        expect = tuple(e for _, e in indexed)
        _check_contexts(raw, indexed, path, names, problems)
        for name in [*raw.get("save", {}), *adapted]:
            names.saved.setdefault(name, raw["name"])
        req = raw.get("request")
        request = None if req is None else RequestSpec(
            method=req["method"], path=req.get("path"), url=req.get("url"), query=req.get("query", {}),
            headers=req.get("headers", {}), json=req.get("json", NO_BODY), body=req.get("body"),
            content_type=req.get("content_type"),
        )
        wait = WaitSpec(**raw["wait_event"]) if "wait_event" in raw else None
        negotiate, reduce = _adaptation(raw, expect, path, problems)
        variants = [{}] if not loop else [{name: v} for name, values in loop.items() for v in values]
        for iteration, variables in enumerate(variants):
            steps.append(Step(
                name=raw["name"], request=request, expect=expect, save=raw.get("save", {}),
                feature=raw.get("feature"), declines=tuple(raw.get("declines", ())),
                line=line_for(problems.lines, path), variables={**(matrix or {}), **variables}, wait=wait,
                group=group, collect=bool(loop), iteration=iteration, negotiate=negotiate, reduce=reduce,
                accepted=raw.get("accepted"), shared=bool(raw.get("shared")),
            ))
    return tuple(steps)


def _holds(condition: Any, matrix: dict[str, Any], path: Location, problems: _Problems) -> bool:
    """A step's ``when``: decided when the file is loaded, from the scenario's matrix values."""
    try:
        return bool(render(condition, matrix))
    except TemplateProblem as exc:
        problems.add(path, f"when: {exc} (only the matrix values are known when a file is loaded)")
        return False


def _variants(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(id suffix, matrix values) for each scenario a file describes: one, or one per matrix value."""
    matrix = data.get("matrix")
    if not matrix:
        return [("", {})]
    (name, values), = matrix.items()
    return [(str(v["id"] if isinstance(v, dict) else v), {name: v}) for v in values]


def _adaptation(raw: dict[str, Any], expect: tuple[Expectation, ...], path: Location,
                problems: _Problems) -> tuple[NegotiateSpec | None, ReduceSpec | None]:
    """The step's negotiate / reduce settings; the rule judging them must be one it expects."""
    listed = {e.rule.id for e in expect}
    negotiate = reduce = None
    if "negotiate" in raw:
        n = raw["negotiate"]
        negotiate = NegotiateSpec(n["variable"], tuple(n["values"]), tuple(n["retry_on"]), n.get("judged_by"))
    if "reduce" in raw:
        r = raw["reduce"]
        reduce = ReduceSpec(r["variable"], tuple(r["retry_on"]), tuple(r.get("keep", ())), r.get("judged_by"))
        if not isinstance((raw.get("request") or {}).get("json"), str | dict):
            problems.add((*path, "reduce"), "reduce needs a request with a JSON object body (request.json)")
    for key, spec in (("negotiate", negotiate), ("reduce", reduce)):
        if spec is not None and spec.judged_by is not None and spec.judged_by not in listed:
            problems.add((*path, key, "judged_by"), f"{spec.judged_by} must also be listed in the step's expect")
    return negotiate, reduce


def _display_name(path: Path) -> str:
    """Bundled files read as ``scenarios/full/01-create.yaml`` wherever the kit is installed."""
    try:
        return str(Path("scenarios") / path.resolve().relative_to(data_dir("scenarios").resolve()))
    except ValueError:
        return str(path)


def load_file(path: Path) -> Scenario:
    """Load a scenario file that describes one scenario (no ``matrix``)."""
    scenarios = load_all(path)
    if len(scenarios) != 1:
        raise ScenarioError(f"{_display_name(path)}: describes {len(scenarios)} scenarios (a matrix); use load_all")
    return scenarios[0]


def load_all(path: Path, api_version: str | None = None) -> list[Scenario]:
    """Load one scenario file (one scenario, or one per value of its ``matrix``); ScenarioError lists
    every problem with its line. With ``api_version``, a file for other versions is only parsed."""
    name = _display_name(path)
    try:
        version = _file_version(path)
        text = read_text(path)
        if api_version is not None and _declares_other_versions(text, api_version):
            return []  # another version's file: not even parsed (~1 ms a file)
        data, lines = load_with_lines(text)
    except OSError as exc:
        raise ScenarioError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    except YamlProblem as exc:
        raise ScenarioError(f"{name}:{exc.line}: {exc}") from exc
    problems = _Problems(name, lines)
    if not isinstance(data, dict):
        raise ScenarioError(f"{name}:1: a scenario file must be a mapping with id, title and steps")
    declared = data.get("api_versions", DEFAULT_API_VERSIONS)
    if api_version is not None and isinstance(declared, list | tuple) and api_version not in declared:
        return []  # another version's file: not needed for this run
    _remember_canonical(version, data)
    for error in sorted(_format_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        problems.add(error_location(error), _schema_message(error))
    if not problems.items:
        _check_shared(data, problems)
    if problems.items:
        raise ScenarioError("\n".join(problems.items))
    versions = tuple(data.get("api_versions", DEFAULT_API_VERSIONS))
    scenarios = []
    for suffix, matrix in _variants(data):
        names = _Names(listener="notifications" in data.get("requires", []))
        steps = _steps(data["steps"], ("steps",), problems, names, versions, matrix)
        teardown = _steps(data.get("teardown", []), ("teardown",), problems, names, versions, matrix)
        if problems.items:
            break
        try:
            title, description = (str(render(data[k], matrix)) if k in data else "" for k in ("title", "description"))
        except TemplateProblem as exc:
            problems.add(("title",), str(exc))
            break
        scenario_id = f"{data['id']}-{suffix}".upper() if suffix else data["id"]
        shared_from = _shared_from(steps)
        scenarios.append(Scenario(
            id=scenario_id, title=title, description=description,
            tags=tuple(data.get("tags", [])), profiles=tuple(data.get("profiles", ["full"])),
            steps=steps, teardown=teardown, file=name, requires=tuple(data.get("requires", [])),
            path=path.resolve(), exclusive=_exclusive(data.get("exclusive", False), scenario_id), api_versions=versions,
            shared_from=shared_from,
        ))
    if problems.items:
        raise ScenarioError("\n".join(problems.items))
    return scenarios


# `api_versions: ["5.0.0"]` as a top-level key on one line (a top-level key starts its line; an
# indented or flow-style one is left to the parser)
_VERSIONS_LINE = re.compile(r"""^api_versions:[ \t]*\[([^\]\n#]*)\][ \t]*(?:#[^\n]*)?$""", re.M)
_VERSION_ITEM = re.compile(r"""^\s*(["']?)([0-9][0-9.]*)\1\s*$""")


def _declares_other_versions(text: str, api_version: str) -> bool:
    """True only when the file plainly declares its versions on one line and ``api_version`` is not
    among them; anything less plain is parsed (and so judged) as usual."""
    found = _VERSIONS_LINE.findall(text)
    if len(found) != 1:
        return False
    items = [_VERSION_ITEM.match(item) for item in found[0].split(",")]
    if not items or not all(items):
        return False
    return api_version not in {m.group(2) for m in items if m}


def _check_shared(data: dict[str, Any], problems: _Problems) -> None:
    """`shared: true` ends an exclusive scenario's exclusive part: anywhere else it means nothing."""
    for part in ("steps", "teardown"):
        for i, raw in enumerate(data.get(part) or []):
            if not isinstance(raw, dict) or not raw.get("shared"):
                continue
            if part == "teardown":
                problems.add((part, i, "shared"), "shared: a teardown always runs alongside the other scenarios")
            elif not data.get("exclusive"):
                problems.add((part, i, "shared"), "shared: only an exclusive scenario (`exclusive:`) has an exclusive "
                                                  "part to end")


def _shared_from(steps: tuple[Step, ...]) -> int | None:
    """The first loaded step of the shared part (a `for_each` is one step per value). A `shared`
    step that a `when` leaves out ends nothing: the exclusive part then lasts longer, never less."""
    return next((i for i, step in enumerate(steps) if step.shared), None)


# -- what the suite digest hashes ------------------------------------------------------------------

FileVersion = tuple[str, int, int]  # resolved path, mtime (ns), size


def _file_version(path: Path) -> FileVersion:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def canonical_json(data: Any) -> str:
    """A scenario file's data as the suite digest hashes it: key order and formatting do not count."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


# the canonical JSON of the files loaded here, taken as parsed (before anything reads the data), so
# the suite digest (``_plan``) does not parse every file a second time; by file version, bounded
_CANONICAL: dict[FileVersion, str] = {}
_CANONICAL_LOCK = threading.Lock()
_CANONICAL_MAX = 256


def _remember_canonical(version: FileVersion, data: Any) -> None:
    try:
        text = canonical_json(data)
    except (TypeError, ValueError, RecursionError):
        return  # not JSON data (a YAML date...): the digest parses the file itself and says so
    with _CANONICAL_LOCK:
        if len(_CANONICAL) >= _CANONICAL_MAX:
            del _CANONICAL[next(iter(_CANONICAL))]
        _CANONICAL[version] = text


def loaded_canonical_json(path: Path) -> str | None:
    """``canonical_json`` of the file's data if this version of the file was loaded here (None: not)."""
    version = _file_version(path)
    with _CANONICAL_LOCK:
        return _CANONICAL.get(version)


def _exclusive(value: bool | str, scenario_id: str) -> str:
    if value is True:
        return f"scenario {scenario_id}"
    return f"group {value}" if value else ""


def scenario_files(paths: list[Path] | None = None) -> list[Path]:
    roots = paths or [data_dir("scenarios")]
    files: list[Path] = []
    for root in roots:
        if os.path.isdir(root):  # not Path.is_dir(): a name too long raises there (Python 3.11)
            files.extend(sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")))
        elif os.path.exists(root):
            files.append(root)
        else:
            raise ScenarioError(f"{root}: no such file or directory")
    return files


def load_scenarios(paths: list[Path] | None = None, api_version: str | None = None) -> list[Scenario]:
    """Load every scenario below ``paths`` (default: the bundled suite), only those of
    ``api_version`` when it is given; all errors at once."""
    scenarios: list[Scenario] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for file in scenario_files(paths):
        try:
            loaded = load_all(file, api_version)
        except ScenarioError as exc:
            errors.append(str(exc))
            continue
        for scenario in loaded:
            if scenario.id in seen:
                errors.append(f"{file}:1: scenario id {scenario.id} is also used by {seen[scenario.id]}")
            seen[scenario.id] = str(file)
            scenarios.append(scenario)
    if errors:
        raise ScenarioError("\n".join(errors))
    if not scenarios:
        raise ScenarioError(f"no scenario files found in {', '.join(map(str, paths or []))}")
    return scenarios


def select(
    scenarios: list[Scenario], profile: str, *, only: list[str] | None = None, tags: list[str] | None = None,
    api_version: str | None = None,
) -> list[Scenario]:
    """The scenarios a run executes, in file order (``api_version``: only those testing that version)."""
    selected = [s for s in scenarios if profile in s.profiles
                and (api_version is None or s.applies_to(api_version))]
    if only:
        wanted = {o.upper() for o in only}
        selected = [s for s in selected if s.id.upper() in wanted]
    if tags:
        selected = [s for s in selected if set(tags) & set(s.tags)]
    return selected

"""The results model: what a run found, serialised to results.json and read by every renderer.

Only plain data lives here, plus the derived facts (each check's outcome, the summary, the
verdict). Those are computed by the functions below from the checks alone, by every consumer:
a stored verdict or summary is never trusted (``tmf699ctk verify`` recomputes and compares).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

RESULTS_SCHEMA_VERSION = "2.2"
# 1.1 added "notifications"; 2.0: "aborted" is a boolean with "abort_reason", adds "scope" and "leftovers";
# 2.1 adds "baseline" (run --baseline), "content_sha256", a step's "scenario_error", scope.options,
# and a response's "truncated" (its body was not read whole); 2.2 adds an exchange's "retried"
SEAL = "content_sha256"
_PIECES = 4  # levels of the document written piece by piece (run, scenarios, a scenario, its steps)


def content_digest(data: dict[str, Any]) -> str:
    """SHA-256 of a results document without its own seal, in a canonical JSON form (key order and
    whitespace do not count). A checksum against edits, not a signature: anyone can recompute it."""
    body = {k: v for k, v in data.items() if k != SEAL}
    digest = hashlib.sha256()
    for piece in _canonical(body, _PIECES):
        digest.update(piece.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _canonical(value: Any, levels: int) -> Iterator[str]:
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`` in pieces:
    a run of 60 MB is hashed without holding its text (and the text's bytes) in memory at once."""
    if levels and isinstance(value, dict):
        yield "{"
        for index, key in enumerate(sorted(value)):
            yield ("," if index else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from _canonical(value[key], levels - 1)
        yield "}"
    elif levels and isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _canonical(item, levels - 1)
        yield "]"
    else:
        yield json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class Outcome(StrEnum):
    """What a reader is told about one check: every check has exactly one."""

    PASSED = "passed"
    FAILED = "failed"  # blocking: a mandatory or offered optional check failed
    WARNING = "warning"  # a recommended check failed
    ERROR = "error"  # the check could not be evaluated (transport failure, kit problem)
    SKIPPED = "skipped"  # not evaluated: an earlier step failed, or inconclusive
    NOT_SUPPORTED = "not supported"  # an optional feature the server declined


class Level(StrEnum):
    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    RECOMMENDED = "recommended"


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: str | None = None


@dataclass
class HttpResponse:
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: str
    size: int
    elapsed_ms: float
    # the body recorded is not the whole body: it reached --max-body, or (with the exchange's
    # error saying why) the transfer was cut short by the deadline, the peer or an interruption
    truncated: bool = False

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


@dataclass
class Exchange:
    request: HttpRequest
    response: HttpResponse | None = None
    error: str | None = None
    started_at: str = ""
    retried: str | None = None  # why the request was sent again (a connection the server closed unanswered)


@dataclass
class CheckResult:
    rule_id: str
    title: str
    level: Level
    family: str
    status: Status
    message: str = ""
    hint: str = ""
    not_supported: bool = False


# a scenario stopped by a bug of the kit is recorded as a scenario error (the run is partial, exit 2)
KIT_ERROR = "the kit failed here, not the scenario file or the server (please report it)"


@dataclass
class StepResult:
    name: str
    kind: str = "step"  # step | teardown
    exchange: Exchange | None = None
    checks: list[CheckResult] = field(default_factory=list)
    skipped_reason: str | None = None
    saved: list[str] = field(default_factory=list)
    scenario_error: str | None = None  # the scenario itself is wrong here (template, JSON path): not the server


@dataclass
class Leftover:
    """A resource the run created and could not confirm deleted."""

    url: str
    id: str | None
    name: str | None
    reason: str

    def curl(self) -> str:
        """A ready command: DELETE the resource, or (its id unknown) find it by the name sent."""
        import shlex
        from urllib.parse import unquote, urlsplit

        if self.id is None:
            # the URL is the collection: never a DELETE of it, but the lookup that finds the lead
            if not self.name:
                return f"# {self.url}: neither its id nor a unique name is known; find it by hand"
            return f"curl -G {shlex.quote(self.url)} --data-urlencode {shlex.quote('name=' + self.name)}"
        segments = unquote(urlsplit(self.url).path).replace("\\", "/").split("/")
        if any(s in (".", "..") for s in segments):
            # curl would resolve the dot segments and delete something else: no ready command
            return f"# {self.url} has a '.' or '..' segment (the server's id); delete this resource by hand"
        return f"curl -X DELETE {shlex.quote(self.url)}"


@dataclass
class ScenarioResult:
    id: str
    title: str
    file: str
    tags: list[str]
    description: str = ""
    steps: list[StepResult] = field(default_factory=list)
    cleanup: list[Exchange] = field(default_factory=list)
    started_at: str = ""
    duration_ms: float = 0.0

    def checks(self) -> list[CheckResult]:
        return [c for s in self.steps for c in s.checks]

    def status(self) -> Status:
        return _worst(c for c in self.checks() if c.level != Level.RECOMMENDED)


@dataclass
class RunResult:
    tool: dict[str, str]
    spec: dict[str, str]
    target: dict[str, Any]
    profile: str
    started_at: str
    metadata: dict[str, str | None] = field(default_factory=dict)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    ended_at: str = ""
    duration_ms: float = 0.0
    aborted: bool = False
    abort_reason: str | None = None
    unreachable: str | None = None
    verdict: str = "FAIL"
    summary: dict[str, Any] = field(default_factory=dict)
    notifications: dict[str, Any] | None = None  # listener facts when one ran
    scope: dict[str, Any] = field(default_factory=dict)  # what ran: suite digest, selection, weakening
    leftovers: list[Leftover] = field(default_factory=list)
    baseline: dict[str, Any] | None = None  # the comparison with an earlier run (``_baseline``)
    schema_version: str = RESULTS_SCHEMA_VERSION
    # what a file read from disk claimed (verdict, summary); never serialised
    stored: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def checks(self) -> list[CheckResult]:
        return [c for s in self.scenarios for c in s.checks()]

    def exchanges(self) -> list[Exchange]:
        return [s.exchange for sc in self.scenarios for s in sc.steps if s.exchange is not None]

    def scenario_errors(self) -> list[tuple[ScenarioResult, StepResult]]:
        """Steps the scenario file got wrong (found at run time): the run says nothing about the server there."""
        return [(sc, st) for sc in self.scenarios for st in sc.steps if st.scenario_error]

    def finish(self) -> None:
        """Store the derived summary and verdict (for readers of the JSON; never trusted on read)."""
        self.summary = summarise(self)
        self.verdict = judge(self)

    @property
    def complete(self) -> bool:
        """The whole bundled suite of the profile ran, unmodified, to its end."""
        return bool(self.scope.get("complete")) and not self.aborted and not self.unreachable

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)`` without ``stored``: the same dict, built without
        ``asdict``'s deep copy of every string (a third of the cost of saving a run)."""
        return {name: _plain(getattr(self, name)) for name in _field_names(RunResult) if name != "stored"}

    def to_json(self) -> str:
        """The results.json text: the document and its seal (``content_digest``)."""
        data = self.to_dict()
        data[SEAL] = content_digest(data)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> Path:
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Read a results document; the derived summary and verdict are recomputed, not trusted
        (``stored`` on the returned object keeps what the file said, for ``verify``)."""
        version = str(data.get("schema_version", ""))
        major = version.split(".")[0]
        if major == "1":
            data = _upgrade_v1(data)
        elif major != RESULTS_SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"results schema version {version!r} is not supported")
        scenarios = [_scenario_from(s) for s in data.get("scenarios", [])]
        leftovers = [Leftover(**x) for x in data.get("leftovers", [])]
        fields = {k: v for k, v in data.items() if k not in ("scenarios", "leftovers", SEAL)}
        run = cls(scenarios=scenarios, leftovers=leftovers, **fields)
        stored_verdict, stored_summary = run.verdict, run.summary
        run.finish()
        # "sealed" is compared with the seal only (``_evidence.seal_problems``): none, nothing to compare
        run.stored = {"verdict": stored_verdict, "summary": stored_summary, SEAL: data.get(SEAL),
                      "sealed": content_digest(data) if data.get(SEAL) else None}
        return run

    @classmethod
    def read(cls, path: Path) -> RunResult:
        """Read results.json; ValueError (never another exception) when it is not one."""
        refuse_device(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            return cls.from_dict(data)
        except (AttributeError, KeyError, TypeError, RecursionError) as exc:
            raise ValueError(f"unexpected content ({type(exc).__name__}: {str(exc)[:200]})") from exc


def refuse_device(path: Path) -> None:
    """ValueError when ``path`` is a device: /dev/zero or /dev/urandom read as a results file would
    never end (memory grows until the process is killed). A pipe, such as <(...), ends: it is read."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # the read that follows says why it cannot open it
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise ValueError("a device, not a file")


_ATOMIC = frozenset({str, int, float, bool, type(None), Level, Status})  # immutable: shared, as deepcopy would


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` makes of a field's value: dataclasses as dicts of their fields,
    lists, tuples and dicts copied (their own type kept), anything else deep-copied."""
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(_plain(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(kind)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return kind(*[_plain(v) for v in value])
    if isinstance(value, list | tuple):
        return kind(_plain(v) for v in value)
    if isinstance(value, dict):
        return kind((_plain(k), _plain(v)) for k, v in value.items())
    return copy.deepcopy(value)


def _upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1.x stored the abort reason in "aborted"."""
    data = dict(data)
    reason = data.get("aborted")
    data["aborted"] = bool(reason)
    data["abort_reason"] = reason or None
    data["schema_version"] = RESULTS_SCHEMA_VERSION
    return data


def _worst(checks: Any) -> Status:
    statuses = {c.status for c in checks}
    for status in (Status.ERROR, Status.FAILED, Status.PASSED):
        if status in statuses:
            return status
    return Status.SKIPPED


def is_blocking(check: CheckResult) -> bool:
    """A failure that makes the verdict FAIL (recommended checks only warn)."""
    return check.status in (Status.FAILED, Status.ERROR) and check.level != Level.RECOMMENDED


def outcome(check: CheckResult) -> Outcome:
    """The one word every output uses for a check: decided here only."""
    if check.status == Status.PASSED:
        return Outcome.PASSED
    if check.status == Status.ERROR:
        return Outcome.ERROR
    if check.status == Status.FAILED:
        return Outcome.FAILED if check.level != Level.RECOMMENDED else Outcome.WARNING
    return Outcome.NOT_SUPPORTED if check.not_supported else Outcome.SKIPPED


def judge(run: RunResult) -> str:
    """PASS or FAIL, from the checks alone (and whether the run could finish)."""
    checks = run.checks()
    if run.aborted or run.unreachable:
        return "FAIL"
    if any(is_blocking(c) for c in checks):
        return "FAIL"
    # no evidence is no pass: a run in which no check passed (all skipped) fails too
    return "PASS" if any(c.status == Status.PASSED for c in checks) else "FAIL"


def summarise(run: RunResult) -> dict[str, Any]:
    checks = run.checks()
    exchanges = [e for e in run.exchanges() if e.response is not None or e.error]
    responses = [e.response for e in exchanges if e.response is not None]
    by_level = {
        lv.value: {st.value: sum(1 for c in checks if c.level == lv and c.status == st) for st in Status}
        for lv in Level
    }
    families: dict[str, dict[str, int]] = {}
    for c in checks:
        fam = families.setdefault(c.family, {st.value: 0 for st in Status})
        fam[c.status.value] += 1
    return {
        "requests": {
            "total": len(exchanges),
            "sent": sum(1 for e in exchanges if e.response is not None
                        or not (e.error or "").startswith(("not sent", "interrupted: not sent"))),
            # no answer, or one cut short (its error says how)
            "failed": sum(1 for e in exchanges if e.response is None or e.error),
        },
        "checks": {
            "total": len(checks),
            **{st.value: sum(1 for c in checks if c.status == st) for st in Status},
        },
        "by_level": by_level,
        "by_family": dict(sorted(families.items())),
        "outcomes": {o.value: sum(1 for c in checks if outcome(c) == o) for o in Outcome},
        "blocking": sum(1 for c in checks if is_blocking(c)),
        "warnings": sum(1 for c in checks if c.level == Level.RECOMMENDED and c.status == Status.FAILED),
        "not_supported": sum(1 for c in checks if c.not_supported),
        "scenarios": {
            "total": len(run.scenarios),
            **{st.value: sum(1 for s in run.scenarios if s.status() == st) for st in Status},
        },
        "bytes_received": sum(r.size for r in responses),
        "avg_response_ms": round(sum(r.elapsed_ms for r in responses) / len(responses), 2) if responses else 0,
    }


def _exchange_from(d: dict[str, Any] | None) -> Exchange | None:
    if d is None:
        return None
    req = d["request"]
    request = HttpRequest(req["method"], req["url"], [tuple(h) for h in req["headers"]], req.get("body"))
    resp = d.get("response")
    response = None
    if resp is not None:
        response = HttpResponse(**{**resp, "headers": [tuple(h) for h in resp["headers"]]})
    return Exchange(request, response, d.get("error"), d.get("started_at", ""), d.get("retried"))


def _scenario_from(d: dict[str, Any]) -> ScenarioResult:
    steps = []
    for s in d.get("steps", []):
        checks = [CheckResult(**{**c, "level": Level(c["level"]), "status": Status(c["status"])}) for c in s["checks"]]
        steps.append(StepResult(s["name"], s.get("kind", "step"), _exchange_from(s.get("exchange")), checks,
                                s.get("skipped_reason"), s.get("saved", []), s.get("scenario_error")))
    cleanup = [e for e in (_exchange_from(x) for x in d.get("cleanup", [])) if e is not None]
    fields = {k: v for k, v in d.items() if k not in ("steps", "cleanup")}
    return ScenarioResult(steps=steps, cleanup=cleanup, **fields)

"""Presentation helpers shared by the renderers: formatting only, never conformance logic."""

from __future__ import annotations

import contextlib
import hashlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _jsontext, _safejson
from ._results import CheckResult, Exchange, Outcome, RunResult, ScenarioResult, StepResult, outcome
from ._submission_names import deliverable_name

BODY_LIMIT = 20_000  # characters of a body shown in a page; results.json keeps everything
_NOISE_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent"}
# the words of the report, the Markdown, JUnit, the terminal and the certification document
PARTIAL_BANNER = "PARTIAL RUN — not valid for certification"
WEAKENED_TITLE = "Weakened testing"
# how the outcomes are counted everywhere, in this order
OUTCOME_ORDER = (Outcome.PASSED, Outcome.FAILED, Outcome.WARNING, Outcome.ERROR, Outcome.SKIPPED,
                 Outcome.NOT_SUPPORTED)
_PLURAL = {Outcome.WARNING: "warnings", Outcome.ERROR: "errors"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pretty_body(text: str | None, limit: int = BODY_LIMIT) -> tuple[str, int]:
    """(shown text, characters left out); JSON is indented when it is small enough to matter."""
    if not text:
        return "", 0
    shown = text
    if len(text) <= limit * 4:
        with contextlib.suppress(ValueError):  # not JSON, or nested too deep to indent: shown as sent
            shown = _jsontext.dumps(_safejson.loads(text))  # json.dumps(..., indent=2, ensure_ascii=False)
    if len(shown) > limit:
        return shown[:limit], len(shown) - limit
    return shown, 0


def curl(exchange: Exchange) -> str:
    """A copy-pasteable command reproducing the request (headers already masked)."""
    req = exchange.request
    parts = ["curl", "-i", "-X", req.method, shlex.quote(req.url)]
    for name, value in req.headers:
        if name.lower() not in _NOISE_HEADERS:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if req.body is not None:
        parts += ["--data-raw", shlex.quote(req.body)]
    return " ".join(parts)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def check_outcome(check: CheckResult) -> str:
    """One word a reader sees: passed, failed, warning, error, skipped, not supported."""
    return outcome(check).value


def outcome_counts(run: RunResult) -> list[tuple[str, int]]:
    """(outcome, count) for every outcome, from the summary: the same numbers in every output."""
    counts = run.summary["outcomes"]
    return [(o.value, int(counts.get(o.value, 0))) for o in OUTCOME_ORDER]


def counted(word: str, n: int) -> str:
    """'1 warning', '2 warnings', '3 passed'."""
    return f"{n} {_PLURAL.get(Outcome(word), word) if n != 1 else word}"


def counts_sentence(run: RunResult) -> str:
    """'202 checks: 0 passed, 0 failed, 0 warnings, 7 errors, 195 skipped, 0 not supported'."""
    s = run.summary
    return f"{s['checks']['total']} checks: " + ", ".join(counted(word, n) for word, n in outcome_counts(run))


def requests_sentence(run: RunResult) -> str:
    sent = run.summary["requests"].get("sent", run.summary["requests"]["total"])
    failed = run.summary["requests"]["failed"]
    return f"{sent} request{'' if sent == 1 else 's'} sent" + (f" ({failed} without an answer)" if failed else "")


def worst_outcome(outcomes: list[str]) -> str:
    """What a group of checks amounts to: a failure outranks an error, which outranks a warning."""
    for word in ("failed", "error", "warning", "passed", "not supported"):
        if word in outcomes:
            return word
    return "skipped"


# -- the run's scope, as evidence --------------------------------------------------------------


def partial_reasons(run: RunResult) -> list[str]:
    """Why the run is not a complete run of its profile's bundled suite (empty when it is)."""
    scope = run.scope or {}
    reasons = [str(r) for r in scope.get("partial_reasons", [])]
    if not scope:
        reasons.append("the results record no scope (written by a kit older than 0.2)")
    elif not scope.get("complete") and not reasons:
        reasons.append("the scenarios that ran differ from the bundled suite of this profile")
    if run.aborted:
        reasons.append(f"the run was aborted: {run.abort_reason or 'interrupted'}")
    if run.unreachable:
        reasons.append(f"the target was unreachable: {run.unreachable}")
    errors = run.scenario_errors()
    if errors:
        reasons.append(f"{len(errors)} step(s) could not run as written (scenario errors)")
    return reasons


def weakened(run: RunResult) -> list[str]:
    """Each option that made the run test less than it could, as recorded in the scope."""
    return [str(text) for text in (run.scope or {}).get("weakened", {}).values()]


@dataclass(frozen=True)
class ScopeView:
    complete: bool
    reasons: list[str]
    weakened: list[str]
    facts: list[tuple[str, str]] = field(default_factory=list)  # label, value: the scope block


def scope_view(run: RunResult) -> ScopeView:
    scope = run.scope or {}
    reasons = partial_reasons(run)
    selection = scope.get("selection") or {}
    chosen = [*selection.get("scenarios", []), *(f"tag {t}" for t in selection.get("tags", []))]
    custom = [f"{c.get('file')} (SHA-256 {c.get('sha256')})" for c in scope.get("custom_files", [])]
    ran = scope.get("scenarios") or [s.id for s in run.scenarios]
    facts = [
        ("Scope", "complete: the whole bundled suite of the profile ran, unmodified" if not reasons
         else PARTIAL_BANNER),
        ("Profile", str(scope.get("profile", run.profile))),
        ("Scenarios", f"{len(ran)}: {', '.join(ran)}"),
        ("Selection", ", ".join(chosen) or "none (every scenario of the profile)"),
        ("Custom scenario files", "; ".join(custom) or "none"),
        ("Suite SHA-256", str(scope.get("suite_sha256", "not recorded"))),
        ("Bundled suite SHA-256", str(scope.get("bundled_suite_sha256", "not recorded"))),
        ("Started", f"{run.started_at} (UTC)"),
        ("Ended", f"{run.ended_at or 'not recorded'} (UTC)"),
        ("Duration", human_ms(run.duration_ms)),
        ("Kit", f"tmf699ctk {scope.get('kit_version', run.tool.get('version', ''))}"),
        ("API", f"{run.spec.get('name', '')} v{scope.get('api_version', run.spec.get('version', ''))}"),
        ("Python", str(scope.get("python", "not recorded"))),
        ("Platform", str(scope.get("platform", "not recorded"))),
        ("Workers", str(scope.get("workers", "not recorded"))),
    ]
    return ScopeView(not reasons, reasons, weakened(run), facts)


# -- per rule ----------------------------------------------------------------------------------


@dataclass
class RuleRow:
    rule_id: str
    title: str
    levels: list[str]
    result: str  # the worst outcome of its checks
    counts: dict[str, int]
    evidence: tuple[int, int] | None  # (scenario index, step index) of the check that decided the result


def rule_rows(run: RunResult) -> list[RuleRow]:
    """One row per rule the run applied, in order of first use: its checks' worst outcome and
    where the deciding check is."""
    rows: dict[str, RuleRow] = {}
    for i, sc in enumerate(run.scenarios):
        for j, st in enumerate(sc.steps):
            for c in st.checks:
                word = check_outcome(c)
                row = rows.setdefault(c.rule_id, RuleRow(c.rule_id, c.title, [], "skipped", {}, None))
                if c.level.value not in row.levels:
                    row.levels.append(c.level.value)
                row.counts[word] = row.counts.get(word, 0) + 1
                decided = worst_outcome([row.result, word])
                if row.evidence is None or (decided == word and decided != row.result):
                    row.evidence = (i, j)
                row.result = decided
    return list(rows.values())


# -- problems, grouped so one cause is told once ------------------------------------------------


@dataclass
class ProblemGroup:
    outcome: str  # failed | error | warning
    message: str
    hint: str
    where: list[tuple[ScenarioResult, StepResult, CheckResult]]


def problem_groups(run: RunResult) -> list[ProblemGroup]:
    """Failed, errored and warning checks; checks with the same outcome and message form one group
    (a connection failure is told once, not once per check). Failures first, then errors, warnings."""
    groups: dict[tuple[str, str], ProblemGroup] = {}
    for sc in run.scenarios:
        for st in sc.steps:
            for c in st.checks:
                word = check_outcome(c)
                if word not in ("failed", "error", "warning"):
                    continue
                key = (word, c.message) if word == "error" else (word, f"{c.rule_id}\0{sc.id}\0{st.name}\0{c.message}")
                group = groups.setdefault(key, ProblemGroup(word, c.message, c.hint if word != "error" else "", []))
                group.where.append((sc, st, c))
    order = {"failed": 0, "error": 1, "warning": 2}
    return sorted(groups.values(), key=lambda g: order[g.outcome])


def skip_reasons(run: RunResult) -> list[tuple[str, int]]:
    """Each reason checks were skipped for (not counting declined features), with how many."""
    counts: dict[str, int] = {}
    for sc in run.scenarios:
        for st in sc.steps:
            for c in st.checks:
                if check_outcome(c) == "skipped":
                    reason = c.message or st.skipped_reason or "skipped"
                    counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def unclaimed_events(run: RunResult) -> list[dict[str, Any]]:
    """Notifications the listener received that no step waited for (with the listener's reason)."""
    return list((run.notifications or {}).get("unclaimed", []))


def report_filename(run: RunResult) -> str:
    """``ACME-TMF699-v4.0.0-HTMLReport.html`` with a company, else ``TMF699-v4.0.0-HTMLReport.html``."""
    return deliverable_name(run.metadata, str(run.spec.get("version", "")), "HTMLReport.html")


def declined_features(run: RunResult) -> list[tuple[str, int]]:
    """Each reason a server gave for not offering an optional feature, with the checks it skipped."""
    counts: dict[str, int] = {}
    for scenario in run.scenarios:
        for step in scenario.steps:
            skipped = sum(1 for c in step.checks if c.not_supported)
            if skipped and step.skipped_reason:
                counts[step.skipped_reason] = counts.get(step.skipped_reason, 0) + skipped
    return list(counts.items())

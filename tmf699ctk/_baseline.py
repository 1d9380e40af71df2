"""Baselines: what changed since an earlier run, check by check.

Checks are matched by scenario ID, step name and rule ID, never by position. A key that repeats
within one run (one rule twice in a step, two steps with one name) is told apart by its
occurrence, counted in the order the run recorded its checks, which the same suite always gives.
The comparison is stored in results.json (``baseline``) with the baseline's outcomes; marks are
derived facts, recomputed from those outcomes and the run's own checks whenever they are read.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ._exceptions import UsageError
from ._results import CheckResult, Outcome, RunResult, outcome, refuse_device


class Mark(StrEnum):
    """How a check compares with the baseline; every check of either run has exactly one."""

    NEW_FAILURE = "new-failure"  # fails now, did not fail in the baseline (or is not in it)
    STILL_FAILING = "still-failing"  # fails in both
    UNVERIFIED = "unverified"  # was decided (passed or failed), is now skipped or not supported
    FIXED = "fixed"  # failed in the baseline, passes now
    NEW_PASS = "new-pass"  # passes now, was skipped or not supported in the baseline
    UNCHANGED = "unchanged"  # passes in both, or is skipped in both
    NEW = "new"  # not in the baseline, and does not fail now
    GONE = "gone"  # in the baseline only


DESCRIPTIONS: dict[Mark, str] = {
    Mark.NEW_FAILURE: "fails now; did not fail in the baseline, or is not in it",
    Mark.STILL_FAILING: "fails in both runs",
    Mark.UNVERIFIED: "was decided in the baseline, is skipped or not supported now",
    Mark.FIXED: "failed in the baseline, passes now",
    Mark.NEW_PASS: "passes now, was skipped or not supported in the baseline",
    Mark.UNCHANGED: "passes in both runs, or is skipped in both",
    Mark.NEW: "not in the baseline, and does not fail now",
    Mark.GONE: "in the baseline only",
}

# a warning fails a recommended check: it counts as failing here, but never blocks (as in the verdict)
_FAILING = {Outcome.FAILED, Outcome.ERROR, Outcome.WARNING}
_BLOCKING = {Outcome.FAILED.value, Outcome.ERROR.value}


@dataclass(frozen=True, order=True)
class CheckKey:
    scenario: str
    step: str
    rule_id: str
    occurrence: int = 1  # 2 for the second check with this scenario, step and rule, ...

    def where(self) -> str:
        return f"{self.scenario} / {self.step}" + (f" (#{self.occurrence})" if self.occurrence > 1 else "")


def keyed_checks(run: RunResult) -> dict[CheckKey, CheckResult]:
    """Every check of a run under its key, in the order the run recorded them."""
    seen: Counter[tuple[str, str, str]] = Counter()
    keyed: dict[CheckKey, CheckResult] = {}
    for scenario in run.scenarios:
        for step in scenario.steps:
            for check in step.checks:
                triple = (scenario.id, step.name, check.rule_id)
                seen[triple] += 1
                keyed[CheckKey(*triple, seen[triple])] = check
    return keyed


def mark_for(before: str | None, after: str | None) -> Mark:
    """The mark of a check from its outcome word in the baseline and now (None: not in that run)."""
    if after is None:
        return Mark.GONE
    failing_now = Outcome(after) in _FAILING
    if before is None:
        return Mark.NEW_FAILURE if failing_now else Mark.NEW
    failed_before = Outcome(before) in _FAILING
    if failing_now:
        return Mark.STILL_FAILING if failed_before else Mark.NEW_FAILURE
    passes_now, passed_before = after == Outcome.PASSED, before == Outcome.PASSED
    if passes_now:
        return Mark.FIXED if failed_before else Mark.UNCHANGED if passed_before else Mark.NEW_PASS
    return Mark.UNVERIFIED if failed_before or passed_before else Mark.UNCHANGED


@dataclass(frozen=True)
class MarkedCheck:
    key: CheckKey
    level: str
    before: str | None  # outcome word in the baseline; None: not in it
    after: str | None  # outcome word now; None: not in this run
    mark: Mark

    @property
    def blocking(self) -> bool:
        """Its outcome now makes the verdict FAIL (a warning never does)."""
        return self.after in _BLOCKING

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.key.scenario, "step": self.key.step, "rule_id": self.key.rule_id,
                "occurrence": self.key.occurrence, "level": self.level, "before": self.before,
                "after": self.after, "mark": self.mark.value}


@dataclass(frozen=True)
class Comparison:
    source: str  # the baseline file as it was given
    sha256: str  # of the baseline file's bytes
    verdict: str  # the baseline's verdict, recomputed from its checks
    started_at: str
    profile: str
    kit_version: str
    notes: tuple[str, ...]  # why some checks may be new or gone for reasons other than the server
    checks: tuple[MarkedCheck, ...]

    def counts(self) -> dict[str, int]:
        counted = Counter(c.mark for c in self.checks)
        return {m.value: counted[m] for m in Mark}

    def new_failures(self) -> list[MarkedCheck]:
        """The checks `--fail-on new` fails for: new failures that block the verdict."""
        return [c for c in self.checks if c.mark == Mark.NEW_FAILURE and c.blocking]

    def changed(self) -> list[MarkedCheck]:
        """Every check whose mark is not ``unchanged``, grouped by mark (worst first), in run order."""
        order = list(Mark)
        return sorted((c for c in self.checks if c.mark != Mark.UNCHANGED), key=lambda c: order.index(c.mark))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256, "verdict": self.verdict,
                "started_at": self.started_at, "profile": self.profile, "kit_version": self.kit_version,
                "notes": list(self.notes), "counts": self.counts(), "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class Baseline:
    """An earlier run's results, read and checked before anything is sent."""

    run: RunResult
    source: str
    sha256: str

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            refuse_device(path)
        except ValueError as exc:
            raise UsageError(f"{path} is not a tmf699ctk results file: {exc}") from exc
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            run = RunResult.from_dict(json.loads(data.decode("utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{path} is not a tmf699ctk results file: {exc}") from exc
        return cls(run, str(path), hashlib.sha256(data).hexdigest())


def compare(run: RunResult, baseline: Baseline) -> Comparison:
    """Mark every check of ``run`` and of the baseline."""
    before = {key: outcome(check).value for key, check in keyed_checks(baseline.run).items()}
    levels = {key: check.level.value for key, check in keyed_checks(baseline.run).items()}
    old = baseline.run
    return Comparison(
        source=baseline.source, sha256=baseline.sha256, verdict=old.verdict, started_at=old.started_at,
        profile=old.profile, kit_version=str(old.tool.get("version", "")), notes=tuple(_notes(run, old)),
        checks=_marked(run, before, levels),
    )


def comparison(run: RunResult) -> Comparison | None:
    """The comparison stored in a run, its marks recomputed (a stored mark is never trusted)."""
    stored = run.baseline
    if not stored:
        return None
    before: dict[CheckKey, str] = {}
    levels: dict[CheckKey, str] = {}
    for entry in stored.get("checks", []):
        key = CheckKey(entry["scenario"], entry["step"], entry["rule_id"], int(entry.get("occurrence", 1)))
        levels[key] = entry.get("level", "")
        if entry.get("before") is not None:
            before[key] = entry["before"]
    return Comparison(
        source=str(stored.get("source", "")), sha256=str(stored.get("sha256", "")),
        verdict=str(stored.get("verdict", "")), started_at=str(stored.get("started_at", "")),
        profile=str(stored.get("profile", "")), kit_version=str(stored.get("kit_version", "")),
        notes=tuple(stored.get("notes", [])), checks=_marked(run, before, levels),
    )


def _marked(run: RunResult, before: dict[CheckKey, str], levels: dict[CheckKey, str]) -> tuple[MarkedCheck, ...]:
    now = keyed_checks(run)
    marked = [MarkedCheck(key, check.level.value, before.get(key), outcome(check).value,
                          mark_for(before.get(key), outcome(check).value)) for key, check in now.items()]
    marked += [MarkedCheck(key, levels.get(key, ""), word, None, Mark.GONE)
               for key, word in before.items() if key not in now]
    return tuple(marked)


def _notes(run: RunResult, old: RunResult) -> list[str]:
    """Differences between the two runs that make checks new or gone whatever the server did."""
    notes = []
    if old.profile != run.profile:
        notes.append(f"the baseline ran the {old.profile} profile, this run the {run.profile} profile")
    if old.spec.get("version") != run.spec.get("version"):
        notes.append(f"the baseline tested TMF699 v{old.spec.get('version')}, this run v{run.spec.get('version')}")
    old_suite, suite = old.scope.get("suite_sha256"), run.scope.get("suite_sha256")
    if old_suite and suite and old_suite != suite and old.profile == run.profile:
        notes.append(f"the scenarios differ from the baseline's (tmf699ctk {old.tool.get('version')} then, "
                     f"{run.tool.get('version')} now, or another selection or custom scenarios)")
    if old.aborted or old.unreachable:
        notes.append("the baseline run did not finish (" + (old.abort_reason or old.unreachable or "aborted")
                     + "): checks it did not reach count as new")
    if old.target.get("base_url") != run.target.get("base_url") and not (old.target.get("embedded")
                                                                        and run.target.get("embedded")):
        notes.append(f"the baseline tested {old.target.get('base_url')}")
    return notes

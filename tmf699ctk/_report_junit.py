"""JUnit XML (the Jenkins/GitLab dialect): one testcase per check, real <skipped/>, <failure> and <error>.

Counts follow the one outcome per check (``_results.outcome``): failed -> <failure>, error ->
<error>, skipped and not supported -> <skipped>, a warning is a passing testcase that says so.
The run's scope (partial or complete, weakening options) is stated on the root and in a first
"run scope" suite, so a CI page shows a partial run as partial.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET

from ._results import Outcome, RunResult, outcome
from ._view import PARTIAL_BANNER, WEAKENED_TITLE, scope_view

# XML 1.0 forbids most control characters; a hostile server can put them in any message
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _scope_suite(root: ET.Element, run: RunResult) -> tuple[str, str]:
    """The first suite: no test, the scope as properties and as text. Returns (scope, weakened) lines."""
    scope = scope_view(run)
    scope_line = "complete" if scope.complete else f"{PARTIAL_BANNER}: {'; '.join(scope.reasons)}"
    weakened_line = "; ".join(scope.weakened) or "none"
    suite = ET.SubElement(root, "testsuite", name="run scope", tests="0", failures="0", errors="0", skipped="0",
                          timestamp=run.started_at.rstrip("Z"), time=f"{run.duration_ms / 1000:.3f}")
    props = ET.SubElement(suite, "properties")
    facts = [(label, value) for label, value in scope.facts if label != "Scope"]
    for label, value in [("scope", scope_line), ("weakened", weakened_line), *facts]:
        name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
        ET.SubElement(props, "property", name=name, value=_clean(value))
    lines = [scope_line if scope.complete else PARTIAL_BANNER, *(f"- {r}" for r in scope.reasons),
             f"{WEAKENED_TITLE}: {weakened_line}"]
    ET.SubElement(suite, "system-out").text = _clean("\n".join(lines))
    return scope_line, weakened_line


def render_junit(run: RunResult) -> str:
    scope = scope_view(run)
    title = f"tmf699ctk {run.profile} {run.target.get('base_url', '')}"
    root = ET.Element("testsuites", name=_clean(title if scope.complete else f"{title} — {PARTIAL_BANNER}"))
    scope_line, weakened_line = _scope_suite(root, run)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for scenario in run.scenarios:
        suite = ET.SubElement(root, "testsuite", name=scenario.id, timestamp=scenario.started_at.rstrip("Z"),
                              hostname=_clean(socket.gethostname()), time=f"{scenario.duration_ms / 1000:.3f}")
        props = ET.SubElement(suite, "properties")
        for key, text in (("title", scenario.title), ("file", scenario.file), ("profile", run.profile),
                          ("target", str(run.target.get("base_url", ""))), ("scope", scope_line),
                          ("weakened", weakened_line)):
            ET.SubElement(props, "property", name=key, value=_clean(text))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for step in scenario.steps:
            elapsed = step.exchange.response.elapsed_ms / 1000 if step.exchange and step.exchange.response else 0
            for check in step.checks:
                counts["tests"] += 1
                case = ET.SubElement(suite, "testcase", classname=scenario.id,
                                     name=_clean(f"{check.rule_id} {check.title} [{step.name}]"),
                                     time=f"{elapsed:.3f}")
                message = _clean(check.message)
                detail = _clean(f"{check.message}\nlevel: {check.level.value}\nhint: {check.hint}\n"
                                f"step: {step.name}")
                word = outcome(check)
                if word == Outcome.FAILED:
                    counts["failures"] += 1
                    ET.SubElement(case, "failure", message=message, type=check.level.value).text = detail
                elif word == Outcome.ERROR:
                    counts["errors"] += 1
                    kind = "scenario error" if step.scenario_error else check.level.value
                    ET.SubElement(case, "error", message=message, type=kind).text = detail
                elif word in (Outcome.SKIPPED, Outcome.NOT_SUPPORTED):
                    counts["skipped"] += 1
                    ET.SubElement(case, "skipped", message=message)
                elif word == Outcome.WARNING:  # recommended: a warning, not a failed test
                    ET.SubElement(case, "system-out").text = _clean(f"WARNING (recommended): {detail}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{run.duration_ms / 1000:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

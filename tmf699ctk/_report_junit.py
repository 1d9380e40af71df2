"""JUnit XML (the Jenkins/GitLab dialect): one testcase per check, real <skipped/> and <failure>."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET

from ._results import Level, RunResult, Status

# XML 1.0 forbids most control characters; a hostile server can put them in any message
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_junit(run: RunResult) -> str:
    root = ET.Element("testsuites", name=f"tmf699ctk {run.profile} {run.target.get('base_url', '')}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for scenario in run.scenarios:
        suite = ET.SubElement(root, "testsuite", name=scenario.id, timestamp=scenario.started_at.rstrip("Z"),
                              hostname=_clean(socket.gethostname()), time=f"{scenario.duration_ms / 1000:.3f}")
        props = ET.SubElement(suite, "properties")
        for key, text in (("title", scenario.title), ("file", scenario.file), ("profile", run.profile),
                          ("target", str(run.target.get("base_url", "")))):
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
                if check.status == Status.FAILED and check.level != Level.RECOMMENDED:
                    counts["failures"] += 1
                    ET.SubElement(case, "failure", message=message, type=check.level.value).text = detail
                elif check.status == Status.ERROR:
                    counts["errors"] += 1
                    ET.SubElement(case, "error", message=message, type=check.level.value).text = detail
                elif check.status == Status.SKIPPED:
                    counts["skipped"] += 1
                    ET.SubElement(case, "skipped", message=message)
                elif check.status == Status.FAILED:  # recommended: a warning, not a failed test
                    ET.SubElement(case, "system-out").text = _clean(f"WARNING (recommended): {detail}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{run.duration_ms / 1000:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

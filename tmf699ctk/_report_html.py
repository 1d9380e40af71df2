"""The single-file HTML certification report (jinja2; inline CSS and JS; no network).

A pure rendering of results.json: everything shown is read from the results (never the clock,
the host or the installed suite), so ``verify`` can re-render it byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from ._resources import package_file
from ._results import Exchange, RunResult
from ._view import (
    OUTCOME_ORDER,
    PARTIAL_BANNER,
    WEAKENED_TITLE,
    check_outcome,
    counted,
    curl,
    declined_features,
    human_bytes,
    human_ms,
    outcome_counts,
    pretty_body,
    problem_groups,
    requests_sentence,
    rule_rows,
    scope_view,
    skip_reasons,
    unclaimed_events,
    worst_outcome,
)


@cache
def _template() -> tuple[Template, str, str]:
    folder = package_file("templates")
    env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    css = (folder / "report.css").read_text(encoding="utf-8")
    js = (folder / "report.js").read_text(encoding="utf-8")
    return env.get_template("report.html.j2"), css, js


def _baseline(run: RunResult) -> dict[str, Any] | None:
    """The baseline section (None without a baseline: the comparison module is not even imported)."""
    if not run.baseline:
        return None
    from ._baseline_view import html_view

    return html_view(run)


def _exchange(x: Exchange | None) -> dict[str, Any] | None:
    if x is None:
        return None
    request_body, request_left = pretty_body(x.request.body)
    view: dict[str, Any] = {
        "method": x.request.method, "url": x.request.url, "request_headers": x.request.headers,
        "request_body": request_body, "request_left_out": request_left, "error": x.error, "retried": x.retried,
        "status": None, "time": "", "size": "",
    }
    if x.response is not None:
        body, left = pretty_body(x.response.body)
        view.update(status=x.response.status, reason=x.response.reason, response_headers=x.response.headers,
                    response_body=body, response_left_out=left, time=human_ms(x.response.elapsed_ms),
                    size=human_bytes(x.response.size))
    return view


def _scenarios(run: RunResult) -> list[dict[str, Any]]:
    scenarios: list[dict[str, Any]] = []
    for i, sc in enumerate(run.scenarios):
        steps: list[dict[str, Any]] = []
        for j, st in enumerate(sc.steps):
            checks = [{**vars(c), "outcome": check_outcome(c)} for c in st.checks]
            outcomes = [c["outcome"] for c in checks]
            flags = [f" has-{lv}" for lv in sorted({c.level.value for c in st.checks})]
            if any(o in ("failed", "error", "warning") for o in outcomes):
                flags.append(" has-failed")
            outcome = ("error" if st.scenario_error else worst_outcome(outcomes) if outcomes
                       else "skipped" if st.skipped_reason else "recorded")
            steps.append({"anchor": f"s{i}-{j}", "name": st.name, "kind": st.kind,
                          "skipped_reason": st.skipped_reason, "scenario_error": st.scenario_error,
                          "checks": checks, "outcome": outcome, "classes": "".join(flags),
                          "exchange": _exchange(st.exchange)})
        scenarios.append({
            "anchor": f"s{i}", "id": sc.id, "title": sc.title, "description": sc.description, "file": sc.file,
            "steps": steps, "outcome": worst_outcome([s["outcome"] for s in steps]),
            "duration": human_ms(sc.duration_ms),
            "classes": "".join(f" {flag}" for flag in sorted({f for st in steps for f in st["classes"].split()})),
            "cleanup": [_exchange(x) for x in sc.cleanup],
        })
    return scenarios


def _problems(run: RunResult) -> list[dict[str, Any]]:
    anchors = {id(st): f"s{i}-{j}" for i, sc in enumerate(run.scenarios) for j, st in enumerate(sc.steps)}
    problems = []
    for group in problem_groups(run):
        _, st, first = group.where[0]
        problems.append({
            "outcome": group.outcome, "message": group.message, "hint": group.hint, "check": first,
            "rules": list(dict.fromkeys(c.rule_id for _, _, c in group.where)),
            "levels": list(dict.fromkeys(c.level.value for _, _, c in group.where)),
            "count": len(group.where),
            "places": list({anchors[id(step)]: (anchors[id(step)], f"{scenario.id} / {step.name}")
                            for scenario, step, _ in group.where}.values()),
            "exchange": _exchange(st.exchange), "curl": curl(st.exchange) if st.exchange else "",
        })
    return problems


def _families(run: RunResult) -> list[tuple[str, list[int]]]:
    """Checks of each rule family by outcome (the same words and order as every other count)."""
    rows: dict[str, list[int]] = {}
    for c in run.checks():
        row = rows.setdefault(c.family, [0] * len(OUTCOME_ORDER))
        row[[o.value for o in OUTCOME_ORDER].index(check_outcome(c))] += 1
    return sorted(rows.items())


def _levels(run: RunResult) -> list[tuple[str, list[int]]]:
    rows: dict[str, list[int]] = {lv: [0] * len(OUTCOME_ORDER) for lv in ("mandatory", "optional", "recommended")}
    for c in run.checks():
        rows[c.level.value][[o.value for o in OUTCOME_ORDER].index(check_outcome(c))] += 1
    return list(rows.items())


def build_view(run: RunResult) -> dict[str, Any]:
    rules = [{**vars(r), "anchor": f"s{r.evidence[0]}-{r.evidence[1]}" if r.evidence else None}
             for r in rule_rows(run)]
    skipped = skip_reasons(run)
    return {
        "scenarios": _scenarios(run), "problems": _problems(run), "not_supported": declined_features(run),
        "scope": scope_view(run), "rules": rules, "outcomes": outcome_counts(run),
        "outcome_words": [o.value for o in OUTCOME_ORDER], "by_level": _levels(run), "by_family": _families(run),
        "unclaimed": unclaimed_events(run), "skip_reasons": skipped[:5], "requests_sentence": requests_sentence(run),
        "scenario_errors": run.scenario_errors(),
    }


def render_html(run: RunResult, digest: str) -> str:
    template, css, js = _template()
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    s = run.summary
    company = run.metadata.get("company")
    scope = scope_view(run)
    title = (f"{company + ' - ' if company else ''}TMF699 v{run.spec.get('version')} conformance: {run.verdict}"
             + ("" if scope.complete else f" ({PARTIAL_BANNER})"))
    return template.render(
        run=run, s=s, digest=digest, css=css, js=js, script_hash=script_hash, title=title,
        duration=human_ms(run.duration_ms), received=human_bytes(s["bytes_received"]),
        avg_response=human_ms(s["avg_response_ms"]), partial_banner=PARTIAL_BANNER, weakened_title=WEAKENED_TITLE,
        warnings=counted("warning", int(s["outcomes"].get("warning", 0))),
        leftovers=[{"curl": x.curl(), "reason": x.reason, "name": x.name, "url": x.url} for x in run.leftovers],
        baseline=_baseline(run), **build_view(run),
    )

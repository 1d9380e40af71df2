"""The single-file HTML certification report (jinja2; inline CSS and JS; no network)."""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from ._baseline_view import html_view as baseline_view
from ._resources import package_file
from ._results import Exchange, RunResult, Status, is_blocking
from ._view import check_outcome, curl, declined_features, human_bytes, human_ms, pretty_body


@cache
def _template() -> tuple[Template, str, str]:
    folder = package_file("templates")
    env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    css = (folder / "report.css").read_text(encoding="utf-8")
    js = (folder / "report.js").read_text(encoding="utf-8")
    return env.get_template("report.html.j2"), css, js


def _exchange(x: Exchange | None) -> dict[str, Any] | None:
    if x is None:
        return None
    request_body, request_left = pretty_body(x.request.body)
    view: dict[str, Any] = {
        "method": x.request.method, "url": x.request.url, "request_headers": x.request.headers,
        "request_body": request_body, "request_left_out": request_left, "error": x.error,
        "status": None, "time": "", "size": "",
    }
    if x.response is not None:
        body, left = pretty_body(x.response.body)
        view.update(status=x.response.status, reason=x.response.reason, response_headers=x.response.headers,
                    response_body=body, response_left_out=left, time=human_ms(x.response.elapsed_ms),
                    size=human_bytes(x.response.size))
    return view


def _outcome(statuses: list[str]) -> str:
    for word in ("error", "failed", "warning", "passed", "not supported"):
        if word in statuses:
            return word
    return "skipped"


def build_view(run: RunResult) -> dict[str, Any]:
    scenarios: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for i, sc in enumerate(run.scenarios):
        steps: list[dict[str, Any]] = []
        for j, st in enumerate(sc.steps):
            anchor = f"s{i}-{j}"
            checks = [{**vars(c), "outcome": check_outcome(c)} for c in st.checks]
            outcomes = [c["outcome"] for c in checks]
            levels = {c.level.value for c in st.checks}
            flags = [f" has-{lv}" for lv in sorted(levels)]
            if any(o in ("failed", "error", "warning") for o in outcomes):
                flags.append(" has-failed")
            steps.append({"anchor": anchor, "name": st.name, "kind": st.kind, "skipped_reason": st.skipped_reason,
                          "checks": checks, "outcome": _outcome(outcomes) if outcomes else
                          ("skipped" if st.skipped_reason else "recorded"),
                          "classes": "".join(flags), "exchange": _exchange(st.exchange)})
            for c in st.checks:
                if c.status in (Status.FAILED, Status.ERROR):
                    failures.append({"check": c, "outcome": check_outcome(c), "scenario": sc.id, "step": st.name,
                                     "anchor": anchor, "exchange": _exchange(st.exchange),
                                     "curl": curl(st.exchange) if st.exchange else "",
                                     "blocking": is_blocking(c)})
        flags_of_steps = sorted({flag for st in steps for flag in st["classes"].split()})
        scenarios.append({
            "anchor": f"s{i}", "id": sc.id, "title": sc.title, "description": sc.description, "steps": steps,
            "outcome": _outcome([s["outcome"] for s in steps]), "duration": human_ms(sc.duration_ms),
            "classes": "".join(f" {flag}" for flag in flags_of_steps),
            "cleanup": [_exchange(x) for x in sc.cleanup],
        })
    failures.sort(key=lambda f: (not f["blocking"],))  # blocking failures first, warnings after
    return {"scenarios": scenarios, "failures": failures, "not_supported": declined_features(run)}


def render_html(run: RunResult, digest: str) -> str:
    template, css, js = _template()
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    s = run.summary
    company = run.metadata.get("company")
    title = f"{company + ' - ' if company else ''}TMF699 v{run.spec.get('version')} conformance: {run.verdict}"
    return template.render(
        run=run, s=s, digest=digest, css=css, js=js, script_hash=script_hash, title=title,
        statuses=[st.value for st in Status], duration=human_ms(run.duration_ms),
        received=human_bytes(s["bytes_received"]), avg_response=human_ms(s["avg_response_ms"]),
        baseline=baseline_view(run), **build_view(run),
    )

"""A Markdown summary for CI (GitHub step summaries, merge-request comments)."""

from __future__ import annotations

from ._baseline_view import markdown_lines as baseline_markdown
from ._results import RunResult, Status
from ._view import check_outcome, declined_features, human_ms

MAX_ROWS = 100


def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    text = text[:limit] + ("…" if len(text) > limit else "")
    # GitHub renders inline HTML in Markdown: a server-chosen string must stay text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def render_markdown(run: RunResult, digest: str | None = None) -> str:
    s = run.summary
    icon = "✅" if run.verdict == "PASS" else "❌"
    lines = [
        f"## {icon} TMF699 v{run.spec.get('version')} conformance: {run.verdict}",
        "",
        f"Profile **{run.profile}** against `{_cell(str(run.target.get('base_url', '')))}` · "
        f"tmf699ctk {run.tool.get('version')} · {human_ms(run.duration_ms)}",
        "",
        "| checks | passed | failed | errors | skipped | warnings | requests |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {s['checks']['total']} | {s['checks']['passed']} | {s['checks']['failed']} | {s['checks']['error']} "
        f"| {s['checks']['skipped']} | {s['warnings']} | {s['requests']['total']} |",
        "",
    ]
    declined = declined_features(run)
    if declined:
        lines += ["Optional features the server does not offer (checks skipped, verdict unaffected):", ""]
        lines += [f"- {_cell(reason)} ({count} checks)" for reason, count in declined] + [""]
    if run.unreachable:
        lines += [f"**Target unreachable:** {_cell(run.unreachable)}", ""]
    if run.aborted:
        lines += [f"**Run aborted:** {_cell(run.abort_reason or 'interrupted')}", ""]
    failed = [(sc, st, c) for sc in run.scenarios for st in sc.steps for c in st.checks
              if c.status in (Status.FAILED, Status.ERROR)]
    if failed:
        lines += [f"### Failed checks ({len(failed)})", "", "| rule | level | outcome | scenario / step | message |",
                  "| --- | --- | --- | --- | --- |"]
        for sc, st, c in failed[:MAX_ROWS]:
            lines.append(f"| `{c.rule_id}` | {c.level.value} | {check_outcome(c)} | {_cell(sc.id)} / "
                         f"{_cell(st.name, 120)} | {_cell(c.message)} |")
        if len(failed) > MAX_ROWS:
            lines.append(f"\n… and {len(failed) - MAX_ROWS} more in the HTML report and results.json.")
        lines.append("")
    lines += baseline_markdown(run)
    if digest:
        lines += [f"results.json SHA-256: `{digest}`", ""]
    return "\n".join(lines)

"""A Markdown summary for CI (GitHub step summaries, merge-request comments).

Counts come from ``summary["outcomes"]`` (the same numbers as the terminal, HTML and JUnit); a
partial run says so under the heading, as prominently as the verdict.
"""

from __future__ import annotations

from ._results import RunResult
from ._view import (
    PARTIAL_BANNER,
    WEAKENED_TITLE,
    declined_features,
    human_ms,
    outcome_counts,
    problem_groups,
    requests_sentence,
    scope_view,
    unclaimed_events,
)

MAX_ROWS = 100


def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    text = text[:limit] + ("…" if len(text) > limit else "")
    # GitHub renders inline HTML in Markdown: a server-chosen string must stay text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def render_markdown(run: RunResult, digest: str | None = None) -> str:
    s = run.summary
    scope = scope_view(run)
    icon = "✅" if run.verdict == "PASS" else "❌"
    lines = [f"## {icon} TMF699 v{run.spec.get('version')} conformance: {run.verdict}", ""]
    if not scope.complete:
        lines += [f"> ⚠️ **{PARTIAL_BANNER}**", ">"]
        lines += [f"> - {_cell(reason)}" for reason in scope.reasons] + [""]
    if scope.weakened:
        lines += [f"**{WEAKENED_TITLE}:** " + "; ".join(_cell(w) for w in scope.weakened), ""]
    env = dict(scope.facts)
    lines += [
        f"Profile **{run.profile}** against `{_cell(str(run.target.get('base_url', '')))}` · "
        f"tmf699ctk {run.tool.get('version')} · {_cell(env['Started'])} → {_cell(env['Ended'])} "
        f"({human_ms(run.duration_ms)}) · Python {_cell(env['Python'])} on {_cell(env['Platform'])}",
        "",
        "| checks | passed | failed | warnings | errors | skipped | not supported | requests sent |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {s['checks']['total']} | " + " | ".join(str(n) for _, n in outcome_counts(run))
        + f" | {s['requests'].get('sent', s['requests']['total'])} |",
        "",
    ]
    declined = declined_features(run)
    if declined:
        lines += ["Optional features the server does not offer (checks skipped, verdict unaffected):", ""]
        lines += [f"- {_cell(reason)} ({count} checks)" for reason, count in declined] + [""]
    if run.unreachable:
        lines += [f"**Target unreachable:** {_cell(run.unreachable)} ({requests_sentence(run)}; nothing more was "
                  "sent once it failed)", ""]
    if run.aborted:
        lines += [f"**Run aborted:** {_cell(run.abort_reason or 'interrupted')}", ""]
    errors = run.scenario_errors()
    if errors:
        lines += [f"### Scenario errors ({len(errors)})", "",
                  "The scenario file is wrong here (unless it says the kit failed), not the server.", ""]
        lines += [f"- `{_cell(sc.file)}` {_cell(sc.id)} / {_cell(st.name, 120)}: {_cell(st.scenario_error or '')}"
                  for sc, st in errors] + [""]
    groups = problem_groups(run)
    if groups:
        lines += [f"### Problems ({sum(len(g.where) for g in groups)} checks)", "",
                  "| rule | level | outcome | scenario / step | message |", "| --- | --- | --- | --- | --- |"]
        for group in groups[:MAX_ROWS]:
            rules = ", ".join(dict.fromkeys(f"`{c.rule_id}`" for _, _, c in group.where))
            levels = ", ".join(dict.fromkeys(c.level.value for _, _, c in group.where))
            places = list(dict.fromkeys(f"{_cell(sc.id)} / {_cell(st.name, 120)}" for sc, st, _ in group.where))
            where = "; ".join(places[:3]) + (f"; and {len(places) - 3} more" if len(places) > 3 else "")
            count = f" ({len(group.where)} checks)" if len(group.where) > 1 else ""
            lines.append(f"| {rules} | {levels} | {group.outcome}{count} | {where} | {_cell(group.message)} |")
        if len(groups) > MAX_ROWS:
            lines.append(f"\n… and {len(groups) - MAX_ROWS} more in the HTML report and results.json.")
        lines.append("")
    stray = unclaimed_events(run)
    if stray:
        lines += [f"### Notifications no step waited for ({len(stray)})", "",
                  "| received | eventType | path | reason |", "| --- | --- | --- | --- |"]
        lines += [f"| {_cell(str(e.get('received_at', '')))} | {_cell(str(e.get('eventType') or '—'))} | "
                  f"`{_cell(str(e.get('path', '')))}` | {_cell(str(e.get('reason', '')))} |" for e in stray[:MAX_ROWS]]
        lines.append("")
    if run.leftovers:
        lines += [f"### Left on the server ({len(run.leftovers)})", "", "```sh"]
        # inside a code block nothing is escaped: a backtick must not end it
        lines += [f"{leftover.curl()}  # {' '.join(leftover.reason.split())}".replace("`", "'")
                  for leftover in run.leftovers]
        lines += ["```", ""]
    if run.baseline:  # the comparison's section; nothing (and nothing imported) without a baseline
        from ._baseline_view import markdown_lines

        lines += markdown_lines(run)
    if digest:
        lines += [f"results.json SHA-256: `{digest}`", ""]
    return "\n".join(lines)

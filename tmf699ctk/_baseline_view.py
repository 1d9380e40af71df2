"""The comparison with a baseline as each output shows it: one function per renderer.

Formatting only: every mark and count comes from ``_baseline.comparison``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from ._baseline import DESCRIPTIONS, Comparison, Mark, MarkedCheck, comparison
from ._results import RunResult

CONSOLE_ROWS = 25  # changed checks listed per mark in a terminal; the HTML report lists them all
MARKDOWN_ROWS = 100
_STYLE = {Mark.NEW_FAILURE: "bold red", Mark.STILL_FAILING: "red", Mark.UNVERIFIED: "yellow",
          Mark.FIXED: "green", Mark.NEW_PASS: "green", Mark.NEW: "cyan", Mark.GONE: "dim"}


def _plural(count: int, mark: Mark) -> str:
    words = {Mark.NEW_FAILURE: ("new failure", "new failures"), Mark.STILL_FAILING: ("still failing",) * 2,
             Mark.UNVERIFIED: ("unverified",) * 2, Mark.FIXED: ("fixed",) * 2,
             Mark.NEW_PASS: ("new pass", "new passes"), Mark.UNCHANGED: ("unchanged",) * 2,
             Mark.NEW: ("new",) * 2, Mark.GONE: ("gone",) * 2}[mark]
    return f"{count} {words[0] if count == 1 else words[1]}"


def counts_line(compared: Comparison) -> str:
    counts = compared.counts()
    warnings = counts[Mark.NEW_FAILURE.value] - len(compared.new_failures())
    parts = [_plural(counts[m.value], m) for m in Mark]
    if warnings:  # recommended checks: they never fail a run, so say which new failures are only warnings
        parts[0] += f" ({warnings} only {'a warning' if warnings == 1 else 'warnings'})"
    return ", ".join(parts)


def _change(check: MarkedCheck) -> str:
    return f"{check.before or 'absent'} → {check.after or 'absent'}"


def _heading(compared: Comparison) -> str:
    return (f"Compared with the baseline {compared.source} (verdict {compared.verdict}, started "
            f"{compared.started_at or 'unknown'}, SHA-256 {compared.sha256[:16]}…)")


def print_comparison(console: Console, run: RunResult) -> None:
    """The terminal: counts, then every changed check grouped by mark (new failures first)."""
    compared = comparison(run)
    if compared is None:
        return
    console.print()
    console.print(Text(_heading(compared), style="bold"))
    for note in compared.notes:
        console.print(Text(f"  note: {note}", style="yellow"))
    console.print(f"  {counts_line(compared)}")
    for mark in Mark:
        if mark == Mark.UNCHANGED:
            continue
        group = [c for c in compared.checks if c.mark == mark]
        for check in group[:CONSOLE_ROWS]:
            console.print(Text.assemble((f"  {mark.value.upper():14}", _STYLE[mark]), (check.key.rule_id, "bold"),
                                        f" [{check.level}] {check.key.where()}: {_change(check)}"))
        if len(group) > CONSOLE_ROWS:
            console.print(Text(f"  … and {len(group) - CONSOLE_ROWS} more {mark.value} (see the HTML report)",
                               style="dim"))


def markdown_lines(run: RunResult) -> list[str]:
    """The Markdown summary's section (empty without a baseline)."""
    from ._report_markdown import _cell

    compared = comparison(run)
    if compared is None:
        return []
    counts = compared.counts()
    lines = ["### Compared with the baseline", "",
             f"Baseline `{_cell(compared.source)}` (verdict {_cell(compared.verdict)}), started "
             f"{_cell(compared.started_at)}, SHA-256 `{compared.sha256}`. {_cell(counts_line(compared))}.", ""]
    lines += [f"- note: {_cell(note)}" for note in compared.notes] + ([""] if compared.notes else [])
    lines += ["| " + " | ".join(m.value for m in Mark) + " |", "| " + " | ".join("---:" for _ in Mark) + " |",
              "| " + " | ".join(str(counts[m.value]) for m in Mark) + " |", ""]
    changed = compared.changed()
    if changed:
        lines += ["| mark | rule | level | scenario / step | before → now |", "| --- | --- | --- | --- | --- |"]
        for check in changed[:MARKDOWN_ROWS]:
            bold = "**" if check.mark == Mark.NEW_FAILURE and check.blocking else ""
            lines.append(f"| {bold}{check.mark.value}{bold} | `{check.key.rule_id}` | {check.level} | "
                         f"{_cell(check.key.where(), 200)} | {_change(check)} |")
        if len(changed) > MARKDOWN_ROWS:
            lines.append(f"\n… and {len(changed) - MARKDOWN_ROWS} more in the HTML report and results.json.")
        lines.append("")
    return lines


def html_view(run: RunResult) -> dict[str, Any] | None:
    """What the HTML report's baseline section shows (None: no baseline)."""
    compared = comparison(run)
    if compared is None:
        return None
    return {
        "source": compared.source, "sha256": compared.sha256, "verdict": compared.verdict,
        "started_at": compared.started_at, "notes": list(compared.notes),
        "counts": [(m.value, compared.counts()[m.value], DESCRIPTIONS[m]) for m in Mark],
        "changed": [{"mark": c.mark.value, "rule_id": c.key.rule_id, "level": c.level, "where": c.key.where(),
                     "before": c.before or "absent", "after": c.after or "absent",
                     "blocking": c.mark == Mark.NEW_FAILURE and c.blocking} for c in compared.changed()],
    }

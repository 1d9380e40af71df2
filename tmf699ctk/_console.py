"""Console output: live progress while running, then the summary and the failures.

Plain text without a TTY or with NO_COLOR (rich handles both); reads only the results model.
"""

from __future__ import annotations

import os
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ._plan import Plan
from ._redact import Redactor
from ._results import Level, RunResult, ScenarioResult, Status, StepResult, is_blocking
from ._runner import RunObserver
from ._scenarios import Scenario

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "magenta", "skipped": "yellow"}


def make_console(stderr: bool = False) -> Console:
    # soft wrap: long lines (URLs, messages) stay whole in CI logs instead of breaking at 80 columns
    return Console(stderr=stderr, highlight=False, no_color="NO_COLOR" in os.environ, soft_wrap=True)


class ConsoleProgress(RunObserver):
    """A progress bar on a terminal; one line per scenario otherwise (CI logs)."""

    def __init__(self, console: Console, redactor: Redactor | None = None) -> None:
        self.console = console
        self.redactor = redactor or Redactor()
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.lock = threading.Lock()  # observers are called from worker threads

    def __enter__(self) -> ConsoleProgress:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=self.console, transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def run_started(self, plan: Plan) -> None:
        with self.lock:
            note = f" ({plan.version_note})" if plan.version_note else ""
            (self.progress.console if self.progress else self.console).print(
                Text(f"TMF699 v{plan.api_version}{note}: {len(plan.scenarios)} scenario(s), {plan.profile.value} "
                     "profile", style="dim"))

    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None:
        with self.lock:
            if self.progress:
                if self.task is None:
                    self.task = self.progress.add_task("scenarios", total=total)
                self.progress.update(self.task, description=scenario.id)

    def cleanup_started(self, pending: int) -> None:
        with self.lock:
            (self.progress.console if self.progress else self.console).print(
                Text(f"cleaning up {pending} resource(s) the run created...", style="dim"))

    def scenario_finished(self, result: ScenarioResult) -> None:
        with self.lock:
            self._scenario_finished(result)

    def _scenario_finished(self, result: ScenarioResult) -> None:
        checks = result.checks()
        status = result.status().value
        counts = ", ".join(
            f"{n} {st.value}" for st in Status if (n := sum(1 for c in checks if c.status == st))
        )
        line = Text.assemble((f"{status.upper():7} ", STATUS_STYLE[status]), f"{result.id}  ",
                             (f"{counts}  {result.duration_ms:.0f} ms", "dim"))
        if self.progress and self.task is not None:
            self.progress.console.print(line)
            self.progress.advance(self.task)
        else:
            self.console.print(line)

    def step_finished(self, scenario: Scenario, step: StepResult) -> None:
        pass


def print_summary(console: Console, run: RunResult, report_paths: list[str]) -> None:
    s = run.summary
    table = Table(title="Checks by level", title_justify="left")
    table.add_column("level")
    for st in Status:
        table.add_column(st.value, justify="right", style=STATUS_STYLE[st.value])
    for level in Level:
        row = s["by_level"][level.value]
        table.add_row(level.value, *(str(row[st.value]) for st in Status))
    console.print()
    console.print(table)

    failures = [(sc, step, c) for sc in run.scenarios for step in sc.steps for c in step.checks
                if c.status in (Status.FAILED, Status.ERROR)]
    if failures:
        console.print()
        console.print(Text(f"Failed checks ({len(failures)})", style="bold"))
        for scenario, step, check in failures:
            tag = "WARN " if not is_blocking(check) else "FAIL "
            style = "yellow" if tag == "WARN " else "red"
            console.print(Text.assemble((tag, style), (check.rule_id, "bold"), f" [{check.level.value}] ",
                                        f"{scenario.id} / {step.name}"))
            console.print(Text(f"      {check.message}"))
            if check.hint:
                console.print(Text(f"      hint: {check.hint}", style="dim"))
    if run.notifications:
        n = run.notifications
        console.print(Text(f"\nNotifications ({n['mode']}): listener on {n['listen']}, callback "
                           f"{n['callback_url']}, {n['received']} event(s) received", style="dim"))
    if run.unreachable:
        console.print(Text(f"\nTarget unreachable: {run.unreachable}", style="bold magenta"))
    if run.aborted:
        console.print(Text(f"\nRun aborted: {run.abort_reason}; the results are partial", style="bold magenta"))
    if run.leftovers:
        console.print(Text(f"\n{len(run.leftovers)} resource(s) the run created could not be confirmed deleted:",
                           style="bold yellow"))
        for leftover in run.leftovers:
            console.print(Text(f"  {leftover.curl()}   # {leftover.reason}"))
    console.print()
    req = s["requests"]
    console.print(
        f"{s['scenarios']['total']} scenarios, {req['total']} requests, {s['checks']['total']} checks: "
        f"{s['checks']['passed']} passed, {s['checks']['failed']} failed, {s['checks']['error']} errors, "
        f"{s['checks']['skipped']} skipped ({s['not_supported']} not supported), "
        f"{s['warnings']} warning{'' if s['warnings'] == 1 else 's'} "
        f"in {run.duration_ms / 1000:.2f}s"
    )
    for path in report_paths:
        console.print(f"report: {path}")
    verdict_style = "bold green" if run.verdict == "PASS" else "bold red"
    console.print(Text(f"VERDICT: {run.verdict}", style=verdict_style))

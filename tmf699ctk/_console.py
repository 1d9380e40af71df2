"""Console output: live progress while running, then the summary and the problems.

Plain text without a TTY or with NO_COLOR (rich handles both); reads only the results model.
Every count printed comes from ``summary["outcomes"]``, as in the HTML, Markdown and JUnit.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._plan import Plan
from ._redact import Redactor
from ._results import Level, RunResult, ScenarioResult, StepResult, outcome
from ._runner import RunObserver
from ._scenarios import Scenario
from ._view import (
    OUTCOME_ORDER,
    PARTIAL_BANNER,
    WEAKENED_TITLE,
    check_outcome,
    counts_sentence,
    outcome_counts,
    problem_groups,
    requests_sentence,
    scope_view,
    skip_reasons,
    unclaimed_events,
    worst_outcome,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

OUTCOME_STYLE = {"passed": "green", "failed": "red", "warning": "yellow", "error": "magenta", "skipped": "dim",
                 "not supported": "dim", "recorded": "blue"}
# the label a line starts with: an error is never called a failure
LABEL = {"passed": "PASS", "failed": "FAIL", "warning": "WARN", "error": "ERROR", "skipped": "SKIP",
         "not supported": "N/S", "recorded": "DONE"}
MAX_PLACES = 3  # where a grouped problem happened: this many are named, the rest counted


def make_console(stderr: bool = False) -> Console:
    # soft wrap: long lines (URLs, messages) stay whole in CI logs instead of breaking at 80 columns
    return Console(stderr=stderr, highlight=False, no_color="NO_COLOR" in os.environ, soft_wrap=True)


def _sent(step: StepResult) -> bool:
    x = step.exchange
    return x is not None and (x.response is not None or not (x.error or "").startswith("not sent"))


class ConsoleProgress(RunObserver):
    """A live bar on a terminal (scenarios done, requests sent, checks by outcome, as they happen);
    one line per finished scenario otherwise (CI logs)."""

    def __init__(self, console: Console, redactor: Redactor | None = None) -> None:
        self.console = console
        self.redactor = redactor or Redactor()
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.lock = threading.Lock()  # observers are called from worker threads
        self.running: list[str] = []
        self.requests = 0
        self.checks: dict[str, int] = {}
        self.not_run: list[str] = []  # scenarios that sent nothing because the target was already unreachable

    def __enter__(self) -> ConsoleProgress:
        if self.console.is_terminal:  # rich.progress is imported only for a terminal (not in CI logs)
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                console=self.console, transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()
        if self.not_run:  # one line for them all: their one reason is told in the summary
            self.console.print(Text.assemble((f"{LABEL['skipped']:6}", OUTCOME_STYLE["skipped"]),
                                             f"{len(self.not_run)} more scenarios not run: the target is unreachable",
                                             (f" ({', '.join(self.not_run)})", "dim")))

    def _stats(self) -> str:
        shown = ", ".join(f"{n} {word}" for word in ("passed", "failed", "warning", "error")
                          if (n := self.checks.get(word)))
        return f"{self.requests} requests · {sum(self.checks.values())} checks" + (f" ({shown})" if shown else "")

    def _refresh(self) -> None:
        if self.progress and self.task is not None:
            running = ", ".join(self.running[:3]) + (f" +{len(self.running) - 3}" if len(self.running) > 3 else "")
            self.progress.update(self.task, description=running or "finishing", stats=self._stats())

    def run_started(self, plan: Plan) -> None:
        with self.lock:
            note = f" ({plan.version_note})" if plan.version_note else ""
            (self.progress.console if self.progress else self.console).print(
                Text(f"TMF699 v{plan.api_version}{note}: {len(plan.scenarios)} scenario(s), {plan.profile.value} "
                     "profile", style="dim"))

    def scenario_started(self, scenario: Scenario, index: int, total: int) -> None:
        with self.lock:
            self.running.append(scenario.id)
            if self.progress and self.task is None:
                self.task = self.progress.add_task("", total=total, stats="")
            self._refresh()

    def step_finished(self, scenario: Scenario, step: StepResult) -> None:
        with self.lock:
            self.requests += _sent(step)
            for check in step.checks:
                word = outcome(check).value
                self.checks[word] = self.checks.get(word, 0) + 1
            self._refresh()

    def cleanup_started(self, pending: int) -> None:
        with self.lock:
            (self.progress.console if self.progress else self.console).print(
                Text(f"cleaning up {pending} resource(s) the run created...", style="dim"))

    def scenario_finished(self, result: ScenarioResult) -> None:
        with self.lock:
            if result.id in self.running:
                self.running.remove(result.id)
            line = scenario_line(result)
            if _never_sent(result):
                self.not_run.append(result.id)
                if self.progress and self.task is not None:
                    self.progress.advance(self.task)
                return
            if self.progress and self.task is not None:
                self.progress.console.print(line)
                self.progress.advance(self.task)
                self._refresh()
            else:
                self.console.print(line)


def _never_sent(result: ScenarioResult) -> bool:
    """Every step skipped because the target was unreachable before the scenario sent anything."""
    return bool(result.steps) and all(
        st.exchange is None and (st.skipped_reason or "").startswith("not sent: the target is unreachable")
        for st in result.steps)


def scenario_line(result: ScenarioResult) -> Text:
    words = [check_outcome(c) for c in result.checks()]
    word = "error" if any(st.scenario_error for st in result.steps) else worst_outcome(words) if words else "recorded"
    counts = ", ".join(f"{n} {w}" for o in OUTCOME_ORDER if (n := words.count(w := o.value)))
    return Text.assemble((f"{LABEL[word]:6}", OUTCOME_STYLE[word]), f"{result.id}  ",
                         (f"{counts or 'no checks'}  {result.duration_ms:.0f} ms", "dim"))


def _outcome_table(run: RunResult) -> Table:
    table = Table(title="Checks by level and outcome", title_justify="left")
    table.add_column("level")
    for o in OUTCOME_ORDER:
        table.add_column(o.value, justify="right", style=OUTCOME_STYLE[o.value])
    for level in Level:
        words = [check_outcome(c) for c in run.checks() if c.level == level]
        table.add_row(level.value, *(str(words.count(o.value)) for o in OUTCOME_ORDER))
    table.add_row("all", *(str(n) for _, n in outcome_counts(run)), style="bold")
    return table


def _where(group_where: list[Any], limit: int = MAX_PLACES) -> str:
    places = list(dict.fromkeys(f"{sc.id} / {st.name}" for sc, st, _ in group_where))
    more = len(places) - limit
    return "; ".join(places[:limit]) + (f"; and {more} more" if more > 0 else "")


def print_summary(console: Console, run: RunResult, report_paths: list[str]) -> None:
    console.print()
    console.print(_outcome_table(run))
    scenario_errors = run.scenario_errors()
    if scenario_errors:
        console.print()
        console.print(Text(f"Scenario errors ({len(scenario_errors)}): the scenario file is wrong here (unless it "
                           "says the kit failed), not the server; fix it (`tmf699ctk validate` finds most of these "
                           "before a run)", style="bold"))
        for sc, st in scenario_errors:
            console.print(Text.assemble(("ERROR ", "magenta"), f"{sc.file}: {sc.id} / {st.name}"))
            console.print(Text(f"      {st.scenario_error}"))
    if run.unreachable:
        console.print()
        console.print(Text(f"Target unreachable: {run.unreachable}", style="bold magenta"))
        console.print(Text(f"      {requests_sentence(run)}; nothing more was sent once it failed"))
    groups = [g for g in problem_groups(run)
              if not (scenario_errors and g.outcome == "error" and g.message.startswith("scenario error: "))]
    if groups:
        shown = sum(len(g.where) for g in groups)
        console.print()
        console.print(Text(f"Problems ({shown} checks)", style="bold"))
        for group in groups:
            first = group.where[0][2]
            rules = list(dict.fromkeys(c.rule_id for _, _, c in group.where))
            head = (f"{first.rule_id} [{first.level.value}] " if len(group.where) == 1
                    else f"{len(group.where)} checks ({', '.join(rules[:4])}{', ...' if len(rules) > 4 else ''}) ")
            console.print(Text.assemble((f"{LABEL[group.outcome]} ", OUTCOME_STYLE[group.outcome]),
                                        (head, "bold"), _where(group.where)))
            console.print(Text(f"      {group.message}"))
            if group.hint:
                console.print(Text(f"      hint: {group.hint}", style="dim"))
    skipped = skip_reasons(run)
    if skipped and (run.unreachable or run.aborted):
        reason, count = skipped[0]
        console.print(Text(f"\n{sum(n for _, n in skipped)} checks skipped; most ({count}): {reason}", style="dim"))
    if run.notifications:
        n = run.notifications
        stray = unclaimed_events(run)
        console.print(Text(f"\nNotifications ({n['mode']}): listener on {n['listen']}, callback "
                           f"{n['callback_url']}, {n['received']} event(s) received"
                           + (f", {len(stray)} no step waited for (see the report)" if stray else ""), style="dim"))
    if run.aborted:
        console.print(Text(f"\nRun aborted: {run.abort_reason}; the results are partial", style="bold magenta"))
    if run.leftovers:
        console.print(Text(f"\n{len(run.leftovers)} resource(s) the run created could not be confirmed deleted:",
                           style="bold yellow"))
        for leftover in run.leftovers:
            console.print(Text(f"  {leftover.curl()}   # {leftover.reason}"))
    console.print()
    console.print(f"{run.summary['scenarios']['total']} scenarios, {requests_sentence(run)}, {counts_sentence(run)}; "
                  f"{run.duration_ms / 1000:.2f}s")
    for path in report_paths:
        console.print(f"report: {path}")
    scope = scope_view(run)
    if scope.weakened:
        console.print(Text(f"{WEAKENED_TITLE}: " + "; ".join(scope.weakened), style="yellow"))
    if not scope.complete:
        console.print(Text(f"{PARTIAL_BANNER}: " + "; ".join(scope.reasons), style="bold yellow"))
    verdict_style = "bold green" if run.verdict == "PASS" else "bold red"
    console.print(Text(f"VERDICT: {run.verdict}" + ("" if scope.complete else f" ({PARTIAL_BANNER})"),
                       style=verdict_style))

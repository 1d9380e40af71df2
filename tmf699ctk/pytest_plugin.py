"""The pytest plugin: ``pytest --tmf699-base-url URL`` adds the conformance suite to a test run.

One pytest item per check: the suite's ~290 checks become ~290 items under
``tmf699::<scenario>::<step>::<rule ID>``, so pytest's counts, ``-k`` and its JUnit XML tell the
same story as results.json. The items are known from the plan before anything is sent; the
suite is executed once, by the same pure ``execute`` as ``tmf699ctk run``, when the first of
them runs (only the scenarios with a selected item), and each item then reports its check.

Inert unless a ``--tmf699-*`` option is given: a vendor's own test run is unaffected.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._settings import OPTIONS, Option

if TYPE_CHECKING:
    from ._plan import Plan
    from ._results import CheckResult, RunResult, ScenarioResult, StepResult
    from ._scenarios import Expectation, Scenario, Step
    from ._settings import Settings

PREFIX = "--tmf699-"
CONFIG_OPTION = PREFIX + "config"
# pytest writes its own outputs (--junitxml) and decides its own exit status: the run's report
# files, the submission and the baseline are `tmf699ctk run`'s
_NOT_OFFERED = ("output.", "run.baseline", "run.fail_on")


class RecommendedCheckWarning(UserWarning):
    """A recommended check failed: a warning, never a failure (as in the verdict)."""


def _offered() -> list[Option]:
    return [o for o in OPTIONS if not o.key.startswith(_NOT_OFFERED)]


def _dest(option: Option) -> str:
    return "tmf699_" + option.key.replace(".", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tmf699", "TMF699 conformance suite (tmf699ctk); any of these options enables it")
    group.addoption(CONFIG_OPTION, metavar="FILE", dest="tmf699_config", default=None,
                    help="tmf699ctk config file (as `tmf699ctk run --config`; environment TMF699CTK_CONFIG).")
    for option in _offered():
        name, help_text = PREFIX + option.cli[2:], f"as `tmf699ctk run {option.cli}` (environment {option.env})."
        if option.flag is not None:
            group.addoption(name, action="store_true", default=None, dest=_dest(option), help=help_text)
        else:
            group.addoption(name, action="append" if option.repeat else "store", default=None, dest=_dest(option),
                            metavar="VALUE", help=help_text + (" Repeatable." if option.repeat else ""))


def _given(config: pytest.Config) -> dict[str, Any]:
    """The --tmf699-* options given, by settings key (flags mapped to their values)."""
    given: dict[str, Any] = {}
    for option in _offered():
        value = config.getoption(_dest(option))
        if value is not None:
            given[option.key] = option.flag if option.flag is not None else value
    return given


def _pytest_spelling(message: str) -> str:
    """Errors name the pytest options the user typed, not `run`'s."""
    for option in OPTIONS:
        message = message.replace(f"command line {option.cli}", option.cli)
        message = re.sub(rf"(?<![\w-]){re.escape(option.cli)}(?![\w-])", PREFIX + option.cli[2:], message)
    return message


def pytest_configure(config: pytest.Config) -> None:
    given = _given(config)
    config_file = config.getoption("tmf699_config")
    if not given and config_file is None:
        return  # inert: nothing of the kit is loaded
    suite = _prepare(config, given, Path(config_file) if config_file else None)
    config.stash[_SUITE] = suite
    config.addinivalue_line("markers", "tmf699: a check of the TMF699 conformance suite (tmf699ctk)")
    config.pluginmanager.register(_SuitePlugin(suite), "tmf699ctk-suite")


def _prepare(config: pytest.Config, given: dict[str, Any], config_file: Path | None) -> _Suite:
    from ._exceptions import CtkError, UsageError
    from ._plan import build_plan
    from ._settings import build_settings

    if getattr(config, "workerinput", None) is not None or config.getoption("numprocesses", default=None):
        raise pytest.UsageError("tmf699ctk: run the TMF699 suite without pytest-xdist (-n): it runs its scenarios "
                                "concurrently itself (--tmf699-workers)")
    # the environment applies as it does to `run`, except for what the plugin does not offer
    # (a job may export TMF699CTK_FAIL_ON for its `tmf699ctk run` step)
    skipped = {o.env for o in OPTIONS if o not in _offered()}
    env = {name: value for name, value in os.environ.items() if name not in skipped}
    try:
        settings = build_settings(given, env=env, config_path=config_file)
        if not settings.run.embedded and not settings.target.base_url:
            raise UsageError("give --tmf699-base-url URL (or TMF699CTK_BASE_URL, or target.base_url in the "
                             "--tmf699-config file), or --tmf699-embedded")
        if settings.run.faults:
            from .server import parse_faults

            try:
                parse_faults(",".join(settings.run.faults))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        plan = build_plan(settings)
    except CtkError as exc:
        raise pytest.UsageError(f"tmf699ctk: {_pytest_spelling(str(exc))}") from None
    return _Suite(settings, plan)


# -- the suite: its plan, executed once --------------------------------------------------------------


@dataclass
class _Suite:
    settings: Settings
    plan: Plan
    result: RunResult | None = None  # masked, once executed
    by_index: dict[int, ScenarioResult] = field(default_factory=dict)  # plan index -> its scenario's result

    def execute(self, wanted: set[int]) -> None:
        from ._outputs import masked
        from ._pipeline import embedded_target
        from ._runner import CancelToken, execute

        chosen = [i for i in range(len(self.plan.scenarios)) if i in wanted]
        plan = replace(self.plan, scenarios=tuple(self.plan.scenarios[i] for i in chosen))
        if len(chosen) < len(self.plan.scenarios):
            scope = self.plan.scope
            plan = replace(plan, scope={**scope, "complete": False, "scenarios": [s.id for s in plan.scenarios],
                                        "partial_reasons": [*scope["partial_reasons"], "pytest ran "
                                                            f"{len(chosen)} of the plan's {len(self.plan.scenarios)} "
                                                            "scenarios (-k, -m or node IDs)"]})
        cancel = CancelToken()
        with embedded_target(self.settings, plan) as (target, info):
            result = execute(plan, target, cancel=cancel, target_info=info)
        self.result = masked(result, self.settings.redactor)
        self.by_index = dict(zip(chosen, self.result.scenarios, strict=False))
        if cancel.cancelled:  # Ctrl-C: the runner cleaned up; now pytest stops as it would
            raise KeyboardInterrupt


_SUITE = pytest.StashKey[_Suite]()


class _SuitePlugin:
    """The hooks of an enabled suite (registered by pytest_configure only then)."""

    def __init__(self, suite: _Suite) -> None:
        self.suite = suite

    @pytest.hookimpl(tryfirst=True)  # before -k and -m deselect
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        root = Tmf699Suite.from_parent(session, name="tmf699", nodeid="tmf699")
        root.suite = self.suite
        added: list[pytest.Item | pytest.Collector] = [
            item for index, scenario in enumerate(self.suite.plan.scenarios) for item in _items(root, index, scenario)]
        for item in added:
            session.ihook.pytest_itemcollected(item=item)
        # as if collected from a file: the terminal counts them ("collected N items")
        session.ihook.pytest_collectreport(report=pytest.CollectReport(root.nodeid, "passed", None, added))
        items.extend(item for item in added if isinstance(item, pytest.Item))

    def pytest_report_header(self, config: pytest.Config) -> str:
        from . import __version__

        settings, plan = self.suite.settings, self.suite.plan
        target = ("the embedded reference server" if settings.run.embedded
                  else settings.redactor.text(settings.target.base_url or ""))
        return (f"tmf699ctk {__version__}: TMF699 v{plan.api_version}, profile {plan.profile.value}, "
                f"{len(plan.scenarios)} scenarios against {target}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self.suite.result
        if run is None:
            return
        s = run.summary
        terminalreporter.write_sep("-", "tmf699ctk")
        scenarios, warned = s["scenarios"]["total"], s["warnings"]
        terminalreporter.write_line(
            f"{scenarios} scenario{'' if scenarios == 1 else 's'}, {s['requests']['total']} requests, "
            f"{s['checks']['total']} checks: {s['blocking']} blocking, {warned} warning{'' if warned == 1 else 's'}, "
            f"{s['checks']['skipped']} skipped ({s['not_supported']} not supported)")
        for problem in filter(None, (run.unreachable and f"target unreachable: {run.unreachable}",
                                     run.aborted and f"run aborted: {run.abort_reason}")):
            terminalreporter.write_line(problem, red=True)
        for leftover in run.leftovers:
            terminalreporter.write_line(f"not confirmed deleted: {leftover.curl()}   # {leftover.reason}", yellow=True)
        terminalreporter.write_line(f"VERDICT: {run.verdict}" + ("" if run.complete else " (of the part that ran)"),
                                    green=run.verdict == "PASS", red=run.verdict != "PASS", bold=True)


def _node_name(text: str) -> str:
    # "::" separates node names and "[" starts parameters in pytest's node IDs and JUnit names
    return text.replace("::", ":").replace("[", "(").replace("]", ")")


def _unique(names: list[str]) -> Iterator[str]:
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        yield name if seen[name] == 1 else f"{name} ({seen[name]})"


def _step_name(step: Step) -> str:
    """The step's name as the run will record it, when its template needs only the step's own values."""
    from ._templating import TemplateProblem, render

    try:
        return str(render(step.name, dict(step.variables)))
    except TemplateProblem:
        return step.name


def _items(root: Tmf699Suite, index: int, scenario: Scenario) -> Iterator[CheckItem]:
    path = scenario.path or root.path
    node = ScenarioNode.from_parent(root, name=_node_name(scenario.id), path=path)
    steps = (*scenario.steps, *scenario.teardown)
    for position, (step, name) in enumerate(zip(steps, _unique([_node_name(_step_name(s)) for s in steps]),
                                                strict=True)):
        step_node = StepNode.from_parent(node, name=name, path=path)
        rules = [e.rule.id for e in step.expect]
        seen: Counter[str] = Counter()
        for expectation, rule_name in zip(step.expect, _unique(rules), strict=True):
            seen[expectation.rule.id] += 1  # the n-th check of a rule in a step is the n-th in its results
            item = CheckItem.from_parent(step_node, name=rule_name, path=path)
            item.bind(root, scenario, index, step, position, expectation, seen[expectation.rule.id])
            yield item


class Tmf699Suite(pytest.Collector):
    """The suite: executed once, when the first of its selected checks runs."""

    suite: _Suite

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []  # its items come from the plan (pytest_collection_modifyitems), not from files

    def setup(self) -> None:
        from ._exceptions import CtkError

        wanted = {item.index for item in self.session.items if isinstance(item, CheckItem)}
        try:
            self.suite.execute(wanted)
        except (CtkError, OSError) as exc:
            pytest.fail(f"tmf699ctk: {_pytest_spelling(str(exc))}", pytrace=False)


class ScenarioNode(pytest.Collector):
    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class StepNode(pytest.Collector):
    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class CheckFailed(Exception):
    """A check of the suite failed or could not be evaluated."""

    def __init__(self, lines: list[str], crash: str) -> None:
        super().__init__(crash)
        self.lines, self.crash = lines, crash


@dataclass
class _Crash:
    """What pytest's short summary and JUnit's failure message show."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"


class _FailureRepr:
    """A failed check as pytest prints it: no traceback (the kit's code is not the problem)."""

    def __init__(self, lines: list[str], crash: _Crash) -> None:
        self.lines, self.reprcrash = lines, crash

    def toterminal(self, tw: Any) -> None:
        for i, line in enumerate(self.lines):
            tw.line(line, red=i == 0, bold=i == 0)

    def __str__(self) -> str:
        return "\n".join(self.lines)


class CheckItem(pytest.Item):
    """One check of the suite: its outcome is the check's."""

    def bind(self, root: Tmf699Suite, scenario: Scenario, index: int, step: Step, position: int,
             expectation: Expectation, occurrence: int) -> None:
        self.root, self.scenario, self.index, self.step = root, scenario, index, step
        self.position, self.expectation, self.occurrence = position, expectation, occurrence
        rule = expectation.rule
        self.add_marker("tmf699")
        self.extra_keyword_matches.update({expectation.level.value, rule.family, *scenario.tags})

    def reportinfo(self) -> tuple[Path, int, str]:
        step = self.parent.name if self.parent is not None else self.step.name
        return self.path, max(self.step.line - 1, 0), f"{self.scenario.id} / {step} / {self.name}"

    def _found(self) -> tuple[StepResult | None, CheckResult | None, str]:
        """This item's step and check in the results, or why there is none."""
        run = self.root.suite.result
        assert run is not None  # the suite's setup executed it
        scenario = self.root.suite.by_index.get(self.index)
        if scenario is None:
            return None, None, f"not run: {run.abort_reason or run.unreachable or 'the run stopped first'}"
        steps = scenario.steps
        if self.position >= len(steps) or steps[self.position].name == "(scenario error)":
            error = next((s.skipped_reason for s in steps if s.name == "(scenario error)"), None)
            return None, None, f"not run: {error or run.abort_reason or 'the scenario stopped first'}"
        step = steps[self.position]
        same_rule = [c for c in step.checks if c.rule_id == self.expectation.rule.id]
        if self.occurrence <= len(same_rule):
            return step, same_rule[self.occurrence - 1], ""
        response = step.exchange.response if step.exchange else None
        why = ("the step got no response" if response is None else
               f"it applies to responses with a body; the {response.status} response had none")
        return step, None, f"not evaluated: {why}"

    def runtest(self) -> None:
        from ._results import Outcome, is_blocking, outcome

        step, check, why = self._found()
        if check is None:
            raise pytest.skip.Exception(why, _use_item_location=True)
        word = outcome(check)
        if word == Outcome.PASSED:
            return
        if word in (Outcome.SKIPPED, Outcome.NOT_SUPPORTED):
            raise pytest.skip.Exception(f"{word.value}: {check.message}", _use_item_location=True)
        assert step is not None
        if not is_blocking(check):  # a recommended check: it warns, as it does in the verdict
            text = f"{check.rule_id} [recommended] {word.value}: {check.message} ({self.scenario.id} / {step.name})"
            warnings.warn_explicit(RecommendedCheckWarning(text + (f"; hint: {check.hint}" if check.hint else "")),
                                   RecommendedCheckWarning, str(self.path), self.step.line)
            return
        raise CheckFailed(self._describe(step, check, word.value),
                          f"[{check.level.value}] {check.rule_id} {word.value}: {check.message}")

    def _describe(self, step: StepResult, check: CheckResult, word: str) -> list[str]:
        from ._view import curl

        lines = [f"{check.rule_id} [{check.level.value}] {word}: {check.message}",
                 f"  rule:     {check.title}"]
        if check.hint:
            lines.append(f"  hint:     {check.hint}")
        lines.append(f"  scenario: {self.scenario.id} ({self.scenario.file}:{self.step.line})")
        lines.append(f"  step:     {step.name}")
        if step.exchange is not None:
            response = step.exchange.response
            lines.append(f"  answer:   {response.status} {response.reason}" if response is not None
                         else f"  answer:   none ({step.exchange.error})")
            lines.append(f"  reproduce: {curl(step.exchange)}")
        return lines

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return _FailureRepr(excinfo.value.lines, _Crash(str(self.path), self.step.line, excinfo.value.crash))
        return super().repr_failure(excinfo, style=style)

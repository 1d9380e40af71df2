"""The self-check: the suite against clean servers (no false alarm) and every fault (detected)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from ._plan import Plan, build_plan
from ._results import RunResult, Status
from ._runner import execute
from ._settings import Settings, build_settings
from .server import BY_NAME, FAULTS, Fault, ReferenceServer
from .server.independent import IndependentServer

CLEAN = "clean reference server"
INDEPENDENT = "independent conformant server"


@dataclass
class Outcome:
    name: str
    description: str
    expected: tuple[str, ...]
    verdict: str
    failed: list[str] = field(default_factory=list)  # rule ids that failed or errored, warnings included
    ok: bool = False

    @property
    def caught_by(self) -> list[str]:
        return [r for r in self.expected if r in self.failed]

    @property
    def is_fault(self) -> bool:
        return bool(self.expected)

    def verdict_line(self) -> str:
        if not self.is_fault:
            return "PASS, no failed check" if self.ok else f"FALSE ALARM: {', '.join(self.failed) or self.verdict}"
        return f"detected by {', '.join(self.caught_by)}" if self.ok else f"MISSED (failed: {', '.join(self.failed)})"


Prepared = tuple[Settings, Plan]


def _run(url: str, prepared: Prepared, profile: str = "full") -> RunResult:
    settings, plan = prepared
    return execute(plan, settings.with_base_url(url))


def _failed(result: RunResult) -> list[str]:
    return sorted({c.rule_id for c in result.checks() if c.status in (Status.FAILED, Status.ERROR)})


def run_fault(fault: Fault, prepared: Prepared, profile: str = "full") -> Outcome:
    with ReferenceServer(faults=frozenset({fault.name}), schemas=prepared[1].schemas) as server:
        result = _run(server.url, prepared, profile)
    failed = _failed(result)
    return Outcome(fault.name, fault.description, fault.rules, result.verdict, failed,
                   ok=bool(set(fault.rules) & set(failed)))


def run_clean(which: str, prepared: Prepared, profile: str = "full") -> Outcome:
    if which == CLEAN:
        with ReferenceServer(schemas=prepared[1].schemas) as server:
            result = _run(server.url, prepared, profile)
    else:
        with IndependentServer() as other:
            result = _run(other.url, prepared, profile)
    failed = _failed(result)
    return Outcome(which, "must pass with no failed check", (), result.verdict, failed,
                   ok=result.verdict == "PASS" and not failed)


def prepare_selftest(**cli: object) -> Prepared:
    """Shorter event waits than a real run: every server here delivers within milliseconds."""
    settings = build_settings({"notifications.event_timeout": 2.0, "notifications.quiet_period": 0.5, **cli},
                              env={})
    settings = replace(settings, run=replace(settings.run, embedded=False))
    return settings, build_plan(settings)


# the self-check's inputs, set in the parent before worker processes fork (nothing to pickle)
_PREPARED: Prepared | None = None


def _run_task(name: str) -> Outcome:
    assert _PREPARED is not None
    if name in (CLEAN, INDEPENDENT):
        return run_clean(name, _PREPARED)
    return run_fault(BY_NAME[name], _PREPARED)


def _pool(jobs: int) -> Executor:
    """Processes where they can fork (runs are CPU-bound in Python: threads would share one core),
    threads elsewhere."""
    if "fork" in multiprocessing.get_all_start_methods() and jobs > 1:
        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(max_workers=max(1, jobs))


def selftest(
    names: list[str] | None = None,
    jobs: int = 2,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Clean servers first, then each fault; ``jobs`` runs that many at once (each isolated)."""
    global _PREPARED
    unknown = sorted(set(names or []) - BY_NAME.keys())
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
    _PREPARED = prepare_selftest()
    tasks = [CLEAN, INDEPENDENT, *(names or [f.name for f in FAULTS])]
    outcomes: list[Outcome] = []
    with _pool(jobs) as pool:
        for outcome in pool.map(_run_task, tasks):
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    return outcomes

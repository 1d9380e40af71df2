"""The self-check: the suite against clean servers (no false alarm) and every fault (detected)."""

from __future__ import annotations

import faulthandler
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from ._apis import DEFAULT_VERSION, api_spec
from ._exceptions import SelftestError
from ._plan import Plan, build_plan
from ._results import RunResult, Status
from ._runner import execute
from ._settings import Settings, build_settings
from .server import Fault, ReferenceServer, faults_of
from .server.independent import IndependentServer

CLEAN = "clean reference server"
INDEPENDENT = "independent conformant server"
ACCEPTED = "reference server answering every write 202 Accepted"  # v5: the asynchronous path


@dataclass
class Outcome:
    name: str
    description: str
    expected: tuple[str, ...]
    verdict: str
    failed: list[str] = field(default_factory=list)  # rule ids that failed or errored, warnings included
    ok: bool = False
    # why: each failed rule's first message ("scenario / step: message"), and "unreachable" when the run
    # stopped sending (an outcome that differs from run to run can then be told from its cause)
    why: dict[str, str] = field(default_factory=dict)

    def explain(self, rules: Iterable[str]) -> str:
        """The messages of ``rules``, for an assertion that failed."""
        said = [f"{r}: {self.why.get(r, '?')}" for r in sorted(rules)]
        if "unreachable" in self.why:
            said.append(f"unreachable: {self.why['unreachable']}")
        return "; ".join(said)

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


def _why(result: RunResult) -> dict[str, str]:
    why: dict[str, str] = {}
    for scenario in result.scenarios:
        for step in scenario.steps:
            for c in step.checks:
                if c.status in (Status.FAILED, Status.ERROR) and c.rule_id not in why:
                    why[c.rule_id] = f"{scenario.id} / {step.name}: {c.message[:300]}"
    if result.unreachable:
        why["unreachable"] = result.unreachable
    return why


def run_fault(fault: Fault, prepared: Prepared, profile: str = "full") -> Outcome:
    plan = prepared[1]
    with ReferenceServer(faults=frozenset({fault.name}), schemas=plan.schemas, api_version=plan.api_version) as server:
        result = _run(server.url, prepared, profile)
    failed = _failed(result)
    return Outcome(fault.name, fault.description, fault.rules, result.verdict, failed,
                   ok=bool(set(fault.rules) & set(failed)), why=_why(result))


def run_clean(which: str, prepared: Prepared, profile: str = "full") -> Outcome:
    plan = prepared[1]
    if which in (CLEAN, ACCEPTED):
        with ReferenceServer(schemas=plan.schemas, api_version=plan.api_version,
                             accepted=which == ACCEPTED) as server:
            result = _run(server.url, prepared, profile)
    elif api_spec(plan.api_version).major == "5":
        from .server.independent_v5 import IndependentV5Server

        with IndependentV5Server() as v5:
            result = _run(v5.url, prepared, profile)
    else:
        with IndependentServer() as other:
            result = _run(other.url, prepared, profile)
    failed = _failed(result)
    return Outcome(which, "must pass with no failed check", (), result.verdict, failed,
                   ok=result.verdict == "PASS" and not failed, why=_why(result))


def clean_targets(api_version: str = DEFAULT_VERSION) -> tuple[str, ...]:
    """The conformant servers of a version's self-check (v5 adds the reference server in 202 mode)."""
    return (CLEAN, ACCEPTED, INDEPENDENT) if api_spec(api_version).major == "5" else (CLEAN, INDEPENDENT)


def prepare_selftest(api_version: str = DEFAULT_VERSION, **cli: object) -> Prepared:
    """Shorter event waits than a real run: every server here delivers within milliseconds."""
    settings = build_settings({"notifications.event_timeout": 3.0, "notifications.quiet_period": 0.5,
                               "target.api_version": api_version, **cli}, env={})
    settings = replace(settings, run=replace(settings.run, embedded=False))
    return settings, build_plan(settings)


# the self-check's inputs, set in the parent before worker processes fork (nothing to pickle)
_PREPARED: Prepared | None = None
_CATALOGUE: dict[str, Fault] = {}
# how many runs that work (not those that mostly wait) go at once: ``jobs`` places, shared by the processes
_WORKING: AbstractContextManager[Any] = nullcontext()
# A run still going after this long is stuck, a kit defect (a deadlock hung a test run once): its
# process prints every thread's stack and leaves, and the self-check stops saying so, instead of
# waiting forever. The longest run (v5 accepted-never-created polls each write for the whole bound)
# takes ~36 s. Only in a pool's process: the bound is one per process.
RUN_BOUND = 600.0
_IN_POOL = False


def _run_task(name: str) -> Outcome:
    assert _PREPARED is not None
    bounded = _IN_POOL and _bound(RUN_BOUND)
    try:
        with nullcontext() if _waits(name, _CATALOGUE) else _WORKING:
            if name in (CLEAN, ACCEPTED, INDEPENDENT):
                return run_clean(name, _PREPARED)
            return run_fault(_CATALOGUE[name], _PREPARED)
    finally:
        if bounded:
            faulthandler.cancel_dump_traceback_later()


def _bound(seconds: float) -> bool:
    """After ``seconds``: every thread's stack on stderr, then this process ends (False: no stderr)."""
    stderr = sys.__stderr__
    if stderr is None:
        return False
    try:
        faulthandler.dump_traceback_later(seconds, exit=True, file=stderr)
    except (AttributeError, OSError, RuntimeError, ValueError):  # stderr closed or not a file
        return False
    return True


def selftest(
    names: list[str] | None = None,
    jobs: int = 2,
    on_outcome: Callable[[Outcome], None] | None = None,
    api_version: str = DEFAULT_VERSION,
) -> list[Outcome]:
    """Clean servers first, then each fault of ``api_version``'s catalogue; ``jobs`` runs working at
    once (each isolated), and beside them the runs that mostly wait out a bound. ``on_outcome`` hears
    of each run as it ends; the outcomes come back in the order above."""
    global _PREPARED, _CATALOGUE, _WORKING
    catalogue = {fault.name: fault for fault in faults_of(api_version)}
    unknown = sorted(set(names or []) - catalogue.keys())
    if unknown:
        raise ValueError(f"unknown fault(s) for TMF699 v{api_version}: {', '.join(unknown)}")
    tasks = [*clean_targets(api_version), *(names or list(catalogue))]
    waiting = {t for t in tasks if _waits(t, catalogue)}
    # processes where they can fork (runs are CPU-bound in Python: threads would share one core)
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() \
        and jobs > 1 else None
    # set before the pool forks: its processes inherit them. A run that mostly waits out a bound (v5
    # accepted-never-created: 0.5 s of CPU in 36 s) takes no place of ``jobs``: it goes beside them
    _PREPARED, _CATALOGUE = prepare_selftest(api_version), catalogue
    _WORKING = context.BoundedSemaphore(max(1, jobs)) if context else threading.BoundedSemaphore(max(1, jobs))
    size = max(1, jobs) + len(waiting)
    pool: Executor = (ProcessPoolExecutor(max_workers=size, mp_context=context, initializer=_leave_with,
                                          initargs=(os.getpid(),)) if context
                      else ThreadPoolExecutor(max_workers=size))
    try:
        with _frozen() if context else nullcontext():  # the pool forks its processes at the first submit
            # the waiting runs first, so that each has a process of its own from the start
            futures = {t: pool.submit(_run_task, t)
                       for t in sorted(dict.fromkeys(tasks), key=lambda t: t not in waiting)}
        for future in as_completed(futures.values()):
            if on_outcome:
                on_outcome(future.result())
        outcomes = [futures[t].result() for t in tasks]
    except BaseException as exc:  # an interrupt, a failed or stuck run: what has not started never will
        _stop(pool)  # before shutdown(), which forgets the processes
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(exc, BrokenProcessPool):
            raise SelftestError(f"a self-check run did not end within {RUN_BOUND:g} s (its threads' stacks are "
                                "printed above: please report them), or its process was killed") from exc
        raise
    pool.shutdown()
    return outcomes


def _leave_with(parent: int) -> None:
    """In each process of the pool: end when the self-check's process is gone (killed, or ended by a
    signal without its cleanup), instead of waiting forever for the next run (a cancelled CI job
    left all of them behind)."""
    global _IN_POOL
    _IN_POOL = True

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os._exit(3)

    # a signal to the whole process group (Ctrl-C in a terminal, a CI job's SIGTERM) is the parent's to
    # handle: it stops these processes itself (not the parent's handler, inherited with the fork)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=watch, name="tmf699ctk-selftest-parent", daemon=True).start()


def _stop(pool: Executor) -> None:
    """Interrupted: the runs in progress are not waited for (their servers live in their processes)."""
    kill = getattr(pool, "kill_workers", None)  # Python 3.14
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with suppress(OSError, ValueError):  # already gone
            process.kill()


@contextmanager
def _frozen() -> Iterator[None]:
    """What forked processes inherit (modules, the plan, the schemas) is theirs to keep: frozen, their
    garbage collections skip it and do not write to its pages, copied on write after the fork (v5
    self-check: ~5 % less CPU); thawed here afterwards. A caller that freezes objects itself (the
    test suite does) decides alone: nothing more is frozen."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _waits(task: str, catalogue: dict[str, Fault]) -> bool:
    """A run that waits out a bound: a fault that says so, or every write answered 202 (each one polled)."""
    return task == ACCEPTED or (task in catalogue and catalogue[task].waits)

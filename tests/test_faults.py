"""The self-check matrix in the test suite: one test per fault, the same code as `tmf699ctk selftest`.

A check that stops catching its fault breaks CI here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tmf699ctk._docs import MATRIX_BEGIN, MATRIX_END, faults_markdown, matrix_markdown
from tmf699ctk._results import Level
from tmf699ctk._rules import BY_ID
from tmf699ctk._selftest import CLEAN, INDEPENDENT, Outcome, clean_targets, selftest
from tmf699ctk.server import FAULTS, Fault

from .conftest import forked_in_background

ROOT = Path(__file__).resolve().parents[1]
# every test that reads the matrix is in this module: with pytest-xdist (--dist loadfile) they
# run in one worker, and the matrix is computed once


_MATRIX: dict[str, Outcome] = {}
_ORDER: list[str] = []  # the names in the order the self-check gave its outcomes


def outcome(name: str) -> Outcome:
    """The matrix is computed once, two runs working at a time beside those that mostly wait (in
    processes: runs are CPU-bound), at a lower priority than the other tests."""
    if not _MATRIX:
        with forked_in_background():
            outcomes = selftest(jobs=2)
        _ORDER.extend(o.name for o in outcomes)
        _MATRIX.update((o.name, o) for o in outcomes)
    return _MATRIX[name]


def test_the_outcomes_come_in_catalogue_order_whichever_run_ends_first() -> None:
    """The runs that mostly wait go in a pool of their own and end last; the outcomes still list the
    clean servers, then the faults as the catalogue has them."""
    catalogue = [*clean_targets(), *(f.name for f in FAULTS)]
    outcome(catalogue[0])
    assert catalogue == _ORDER


def test_there_are_at_least_40_faults_each_naming_known_rules() -> None:
    assert len(FAULTS) >= 40
    assert len({f.name for f in FAULTS}) == len(FAULTS)
    for fault in FAULTS:
        assert fault.description and fault.rules and all(r in BY_ID for r in fault.rules), fault.name


@pytest.mark.parametrize("server", [CLEAN, INDEPENDENT])
def test_conformant_servers_pass_with_no_failed_check(server: str) -> None:
    result = outcome(server)
    assert result.ok, result.explain(result.failed)
    assert result.verdict == "PASS" and result.failed == []


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_the_suite_detects_the_fault(fault: Fault) -> None:
    result = outcome(fault.name)
    assert result.ok, f"{fault.name}: expected one of {fault.rules}, failed: {result.failed}"
    blocking = any(BY_ID[r].level != Level.RECOMMENDED for r in result.caught_by)
    assert result.verdict == ("FAIL" if blocking else "PASS")  # recommended-only faults warn


def test_the_documented_matrix_is_what_the_suite_does() -> None:
    outcomes = [outcome(CLEAN), outcome(INDEPENDENT), *(outcome(f.name) for f in FAULTS)]
    assert (ROOT / "docs" / "faults.md").read_text() == faults_markdown(outcomes), "run python -m tmf699ctk.docs"
    readme = (ROOT / "README.md").read_text()
    block = readme.split(MATRIX_BEGIN, 1)[1].split(MATRIX_END, 1)[0]
    assert block == "\n" + matrix_markdown(outcomes)


# -- one root cause, reported once ------------------------------------------------------------------------------

# Faults whose consequences other rules may legitimately see too, and why. Every other fault must
# trip only the rules it names: a new cascade is a regression.
CONSEQUENCES: dict[str, str] = {
    # a value served wrong everywhere is wrong wherever it is compared
    "status-uppercase": "representation", "date-not-rfc3339": "representation", "ref-without-id": "representation",
    "null-optional": "representation", "note-as-object": "representation",
    "schema-location-relative": "representation", "revenue-as-string": "representation",
    # nothing stored or listed: nothing to build on
    "create-not-persisted": "catastrophic", "list-object": "catastrophic", "list-200-only-first": "catastrophic",
    "create-no-href": "official N1 asserts the same attributes", "create-no-status": "official N1 too",
    "href-differs-on-post": "official N1 compares the same values (a warning under --profile official)",
    "href-wrong-id": "the href then leads elsewhere", "get-unknown-200": "the deleted lead is then 'found'",
    "get-unknown-500": "the deleted lead is then an error", "ignore-fields": "every fields rule",
    "fields-drops-id": "every fields rule", "ignore-filters": "every filter rule",
    "patch-stale-response": "every PATCH answer is stale",
    "event-no-payload": "no lead to match",
}


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.name not in CONSEQUENCES], ids=lambda f: f.name)
def test_a_fault_trips_only_its_own_rules(fault) -> None:
    result = outcome(fault.name)
    extra = set(result.failed) - set(fault.rules)
    assert not extra, f"{fault.name} also failed {result.explain(extra)}"


def test_an_interrupt_stops_the_self_check_without_waiting_for_the_runs_not_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the self-check prints its progress: the run in progress is not waited for
    (its thread is left to the exit) and the queued runs never start."""
    import threading

    from tmf699ctk import _selftest

    started: list[str] = []
    release = threading.Event()

    def run(name: str) -> Outcome:
        started.append(name)
        if len(started) > 1:
            release.wait(60)
        return Outcome(name, "", (), "PASS", ok=True)

    def interrupt(_: Outcome) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_selftest, "_run_task", run)
    quick = [f.name for f in FAULTS if not f.waits][:10]
    try:
        with pytest.raises(KeyboardInterrupt):
            selftest(quick, jobs=1, on_outcome=interrupt)
    finally:
        release.set()
    # the first ended; the second may have begun meanwhile (it is then left running): nothing else did
    assert started in ([CLEAN], [CLEAN, INDEPENDENT])


def _frozen_count(name: str) -> Outcome:
    """A run's stand-in in a forked process: says how many objects it inherited frozen."""
    import gc

    return Outcome(name, str(gc.get_freeze_count()), (), "PASS", ok=True)


def test_the_forked_runs_inherit_a_frozen_heap_and_the_caller_gets_its_collector_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes' garbage collections skip what they inherited (and copy none of its pages); the
    caller's collector is left as it was: nothing frozen stays frozen, a freeze of its own is kept as is."""
    import gc

    from tmf699ctk import _selftest

    monkeypatch.setattr(_selftest, "_run_task", _frozen_count)
    quick = [f.name for f in FAULTS if not f.waits][:3]
    gc.unfreeze()  # conftest froze what the collection built
    try:
        outcomes = selftest(quick, jobs=2)
        assert gc.get_freeze_count() == 0
    finally:
        gc.freeze()
    assert len(outcomes) == 5 and all(int(o.description) > 10_000 for o in outcomes), outcomes
    frozen = gc.get_freeze_count()
    selftest(quick, jobs=2)
    # the caller's own freeze: neither thawed nor extended (frozen objects may still be freed)
    assert 0 < gc.get_freeze_count() <= frozen


def _slow_run(name: str) -> Outcome:
    """A run's stand-in: the first ends at once, the others take a minute."""
    import time

    if name != CLEAN:
        time.sleep(60)
    return Outcome(name, "", (), "PASS", ok=True)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the pool's processes in /proc")
def test_an_interrupted_self_check_stops_its_processes_before_it_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Called from Python (no process exit to end them): the runs in progress are stopped with the
    interrupt, not left to finish (a minute here; up to ~40 s for a real run that waits out a bound),
    and no process waits for a next run."""
    import time

    from tmf699ctk import _selftest

    from .test_signals import _gone

    monkeypatch.setattr(_selftest, "_run_task", _slow_run)
    children: list[int] = []

    def interrupt(_: Outcome) -> None:
        children.extend(int(pid) for task in Path("/proc/self/task").iterdir()
                        for pid in (task / "children").read_text().split())
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        selftest([f.name for f in FAULTS if not f.waits][:6], jobs=2, on_outcome=interrupt)
    assert len(children) == 2, children  # the pool's two processes, each in a run of a minute
    while not all(map(_gone, children)) and time.monotonic() - started < 20:
        time.sleep(0.05)
    assert [pid for pid in children if not _gone(pid)] == []


def test_a_run_that_never_ends_stops_the_self_check_with_every_threads_stack(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A run stuck for good (a deadlock in the kit hung a test run once, until CI's own timeout): past
    its bound, its process prints every thread's stack and leaves, and the self-check stops with an
    error that says so (exit 3 from the CLI) instead of waiting forever."""
    import time

    from tmf699ctk import _selftest
    from tmf699ctk._exceptions import SelftestError

    def stuck_forever(fault: Fault, prepared: object, profile: str = "full") -> Outcome:
        time.sleep(60)
        raise AssertionError("the run was waited for")

    def clean(which: str, prepared: object, profile: str = "full") -> Outcome:
        return Outcome(which, "", (), "PASS", ok=True)

    # read by the processes the pool forks
    monkeypatch.setattr(_selftest, "RUN_BOUND", 1.0)
    monkeypatch.setattr(_selftest, "run_fault", stuck_forever)
    monkeypatch.setattr(_selftest, "run_clean", clean)
    started = time.monotonic()
    with pytest.raises(SelftestError, match=r"did not end within 1 s \(its threads' stacks are printed"):
        selftest([FAULTS[0].name], jobs=2)
    elapsed = time.monotonic() - started
    err = capfd.readouterr().err
    assert "Timeout (0:00:01)!" in err and "in stuck_forever" in err, err[-2000:]
    assert elapsed < 30  # stopped at its bound, not waited for

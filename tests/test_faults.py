"""The self-check matrix in the test suite: one test per fault, the same code as `tmf699ctk selftest`.

A check that stops catching its fault breaks CI here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tmf699ctk._docs import MATRIX_BEGIN, MATRIX_END, faults_markdown, matrix_markdown
from tmf699ctk._results import Level
from tmf699ctk._rules import BY_ID
from tmf699ctk._selftest import CLEAN, INDEPENDENT, Outcome, selftest
from tmf699ctk.server import FAULTS, Fault

ROOT = Path(__file__).resolve().parents[1]
# with pytest-xdist, every test of this module runs in one worker: the matrix is computed once
pytestmark = pytest.mark.xdist_group("fault-matrix")


_MATRIX: dict[str, Outcome] = {}


def outcome(name: str) -> Outcome:
    """The matrix is computed once, four targets at a time (in processes: runs are CPU-bound)."""
    if not _MATRIX:
        _MATRIX.update((o.name, o) for o in selftest(jobs=4))
    return _MATRIX[name]


def test_there_are_at_least_40_faults_each_naming_known_rules() -> None:
    assert len(FAULTS) >= 40
    assert len({f.name for f in FAULTS}) == len(FAULTS)
    for fault in FAULTS:
        assert fault.description and fault.rules and all(r in BY_ID for r in fault.rules), fault.name


@pytest.mark.parametrize("server", [CLEAN, INDEPENDENT])
def test_conformant_servers_pass_with_no_failed_check(server: str) -> None:
    result = outcome(server)
    assert result.ok, result.failed
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

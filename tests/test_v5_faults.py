"""The v5 self-check matrix in the test suite: one test per v5 fault, the same code as
`tmf699ctk selftest --api-version 5.0.0`. A v5 check that stops catching its fault breaks CI here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tmf699ctk._docs import MATRIX_V5_BEGIN, MATRIX_V5_END, faults_v5_markdown, matrix_markdown
from tmf699ctk._results import Level
from tmf699ctk._rules import BY_ID
from tmf699ctk._selftest import Outcome, clean_targets, selftest
from tmf699ctk.server import FAULTS, FAULTS_V5, Fault

ROOT = Path(__file__).resolve().parents[1]
V5 = "5.0.0"

_MATRIX: dict[str, Outcome] = {}


def outcome(name: str) -> Outcome:
    """The matrix is computed once, four targets at a time."""
    if not _MATRIX:
        _MATRIX.update((o.name, o) for o in selftest(jobs=4, api_version=V5))
    return _MATRIX[name]


def test_there_are_at_least_30_v5_faults_with_discriminator_view_and_opportunity_ones() -> None:
    assert len(FAULTS_V5) >= 30 and len({f.name for f in FAULTS_V5}) == len(FAULTS_V5)
    for fault in FAULTS_V5:
        assert fault.description and fault.rules, fault.name
        assert all(r in BY_ID and BY_ID[r].applies_to(V5) for r in fault.rules), fault.name
    names = " ".join(f.name for f in FAULTS_V5)
    assert "contact-medium" in names and "res-" in names and "opportunity-" in names and "accepted-" in names


def test_every_v5_rule_is_named_by_a_v5_fault_or_shared_with_v4() -> None:
    """A rule only v5 has is proven by a fault of the v5 catalogue (the self-check's purpose)."""
    named = {r for f in FAULTS_V5 for r in f.rules}
    v5_only = {r.id for r in BY_ID.values() if r.versions == frozenset({V5})}
    assert v5_only <= named, v5_only - named
    assert {r for f in FAULTS for r in f.rules}.isdisjoint(v5_only)  # the v4 matrix is not touched


@pytest.mark.parametrize("server", clean_targets(V5))
def test_conformant_v5_servers_pass_with_no_failed_check(server: str) -> None:
    result = outcome(server)
    assert result.ok and result.verdict == "PASS" and result.failed == [], result.failed


@pytest.mark.parametrize("fault", FAULTS_V5, ids=lambda f: f.name)
def test_the_v5_suite_detects_the_fault(fault: Fault) -> None:
    result = outcome(fault.name)
    assert result.ok, f"{fault.name}: expected one of {fault.rules}, failed: {result.failed}"
    blocking = any(BY_ID[r].level != Level.RECOMMENDED for r in result.caught_by)
    assert result.verdict == ("FAIL" if blocking else "PASS")  # recommended-only faults warn


def test_the_documented_v5_matrix_is_what_the_suite_does() -> None:
    outcomes = [outcome(name) for name in clean_targets(V5)] + [outcome(f.name) for f in FAULTS_V5]
    assert (ROOT / "docs" / "faults-v5.md").read_text() == faults_v5_markdown(outcomes), "run python -m tmf699ctk.docs"
    readme = (ROOT / "README.md").read_text()
    block = readme.split(MATRIX_V5_BEGIN, 1)[1].split(MATRIX_V5_END, 1)[0]
    assert block == "\n" + matrix_markdown(outcomes)

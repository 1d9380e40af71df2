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


# What a v5 fault may trip beyond the rules it names, and why (as the v4 matrix's CONSEQUENCES):
# every other v5 fault must trip only its own rules, so a new cascade is a regression here.
CONSEQUENCES_V5: dict[str, tuple[str, ...]] = {
    # a representation served wrong everywhere fails wherever it is validated or compared
    "contact-medium-untyped": ("TMF699-CREATE-04", "TMF699-EVENT-02", "TMF699-SCHEMA-02"),
    "contact-medium-unknown-type": ("TMF699-CREATE-04", "TMF699-EVENT-02", "TMF699-SCHEMA-02"),
    "party-ref-untyped": ("TMF699-CREATE-04", "TMF699-EVENT-02", "TMF699-SCHEMA-02"),
    "opportunity-item-untyped": ("TMF699-CREATE-04", "TMF699-EVENT-02", "TMF699-SCHEMA-02"),
    "revenue-not-array": ("TMF699-CREATE-04", "TMF699-EVENT-02", "TMF699-SCHEMA-02"),
    "status-uppercase": ("TMF630-PATCH-02", "TMF699-EVENT-02", "TMF699-SCHEMA-02"),
    "res-no-type": ("TMF630-PATCH-02", "TMF630-PATCH-12", "TMF699-CREATE-03", "TMF699-CREATE-04",
                    "TMF699-EVENT-02", "TMF699-REF-01"),
    "res-wrong-type": ("TMF630-PATCH-02", "TMF630-PATCH-12", "TMF699-CREATE-04", "TMF699-REF-01"),
    "res-no-href": ("CTK-JSON-01", "TMF699-CREATE-03", "TMF699-SCHEMA-02"),
    "href-v4-base": ("TMF630-LOCATION-02", "TMF699-REF-01"),
    "opportunity-lead-ref-broken": ("TMF699-CREATE-04",),
    # list items without an id: no filter, fields or sort check can find the resource it looks for
    "list-items-fvo": ("TMF630-FIELDS-01", "TMF630-FIELDS-02", "TMF630-FIELDS-04", "TMF630-FILTER-01",
                       "TMF630-FILTER-02", "TMF630-FILTER-03", "TMF630-FILTER-04", "TMF630-FILTER-05",
                       "TMF630-FILTER-06", "TMF630-SORT-01", "TMF630-SORT-02"),
    "opportunity-not-listed": ("TMF630-FILTER-01", "TMF630-FILTER-02", "TMF630-FILTER-03", "TMF630-FILTER-04",
                               "TMF630-FILTER-05", "TMF630-FILTER-06", "TMF630-PAGE-02", "TMF630-SORT-01",
                               "TMF630-SORT-02"),
    # a patch applied wrongly leaves a resource that later reads compare (reported twice: see the note)
    "patch-accepts-no-type": ("TMF630-PATCH-09",),
    "patch-put-semantics": ("TMF630-PATCH-18", "TMF630-PATCH-19"),
    "json-patch-replaces": ("TMF630-PATCH-19",),
    "json-patch-ignored": ("TMF630-PATCH-19",),
    "opportunity-delete-noop": ("TMF699-EVENT-01",),
    "event-no-event-id": ("TMF699-EVENT-07",),
    "event-v4-shape": ("TMF699-EVENT-07",),
}


@pytest.mark.parametrize("fault", FAULTS_V5, ids=lambda f: f.name)
def test_a_v5_fault_trips_only_its_own_rules_and_its_known_consequences(fault: Fault) -> None:
    allowed = set(fault.rules) | set(CONSEQUENCES_V5.get(fault.name, ()))
    extra = set(outcome(fault.name).failed) - allowed
    assert not extra, f"{fault.name} also failed {sorted(extra)}"


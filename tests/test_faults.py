"""Every injected fault must trip at least one of the rules it names; the clean server none."""

from __future__ import annotations

from pathlib import Path

import pytest

from tmf699ctk._results import Level
from tmf699ctk._rules import BY_ID
from tmf699ctk.server import FAULTS, Fault, ReferenceServer

from .conftest import failed_rules, run_suite


def test_every_fault_names_known_rules() -> None:
    for fault in FAULTS:
        assert fault.rules and all(r in BY_ID for r in fault.rules), fault.name


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_the_suite_detects_the_fault(tmp_path: Path, schemas, fault: Fault) -> None:
    with ReferenceServer(faults=frozenset({fault.name}), schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url)
    caught = failed_rules(result) & set(fault.rules)
    assert caught, f"{fault.name}: expected one of {fault.rules}, failed: {sorted(failed_rules(result))}"
    if all(BY_ID[r].level != Level.RECOMMENDED for r in fault.rules):
        assert result.verdict == "FAIL"
    else:
        assert result.summary["warnings"] > 0

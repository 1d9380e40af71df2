"""An answer that lacks what later steps need: the steps after it are skipped, and the lack is
reported once as a failure when nothing else failed first, so skipped checks never sit behind a PASS."""

from __future__ import annotations

from pathlib import Path

from tmf699ctk._results import RunResult
from tmf699ctk.server import ReferenceServer

from .conftest import run_suite

HEAD = "id: T-DEP\ntitle: dependencies\nsteps:\n"
LIST = "  - name: list\n    request: {method: GET, path: /salesLead}\n    expect: [TMF699-LIST-01]\n"
CREATE = ("  - name: create\n    request: {method: POST, path: /salesLead, json: {name: 'dep {{ run_id }}'}}\n"
          "    expect: [TMF699-CREATE-01]\n")
GET = ("  - name: get\n    request: {method: GET, path: \"/salesLead/{{ lead_id }}\"}\n"
       "    expect: [TMF699-RETRIEVE-01]\n")


def run(tmp_path: Path, schemas, steps: str) -> RunResult:
    (tmp_path / "s.yaml").write_text(HEAD + steps)
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path / "out", base_url=server.url, scenario_paths=[tmp_path / "s.yaml"],
                           notifications="off")
        assert server.state.store.leads == {}
    return result


def statuses(result: RunResult) -> list[tuple[str, str, str]]:
    return [(step.name, c.rule_id, c.status.value) for step in result.scenarios[0].steps for c in step.checks]


def test_a_value_the_answer_lacks_is_one_failure_and_the_rest_is_skipped(tmp_path: Path, schemas) -> None:
    result = run(tmp_path, schemas, CREATE.replace("expect", "save: {lead_id: $.nothing}\n    expect") + GET)
    assert statuses(result) == [("create", "TMF699-CREATE-01", "passed"), ("create", "TMF630-CT-01", "passed"),
                                ("create", "CTK-JSON-01", "failed"), ("get", "TMF699-RETRIEVE-01", "skipped")]
    failure = result.scenarios[0].steps[0].checks[-1]
    assert failure.level.value == "mandatory" and "$.nothing" in failure.message and "'lead_id'" in failure.message
    assert "could not save 'lead_id'" in (result.scenarios[0].steps[1].skipped_reason or "")
    assert result.verdict == "FAIL"


def test_a_missing_header_is_named_by_the_header_rule(tmp_path: Path, schemas) -> None:
    steps = LIST.replace("expect", "save: {total: {header: X-Not-There}}\n    expect") + GET.replace("lead_id", "total")
    failed = [(rule, status) for _, rule, status in statuses(run(tmp_path, schemas, steps)) if status == "failed"]
    assert failed == [("CTK-HEADER-01", "failed")]


def test_an_attribute_a_later_step_reads_is_missing(tmp_path: Path, schemas) -> None:
    steps = CREATE.replace("expect", "save: {lead: $}\n    expect") + GET.replace("lead_id", "lead.nothing")
    result = run(tmp_path, schemas, steps)
    assert ("get", "CTK-JSON-01", "failed") in statuses(result)
    assert ("get", "TMF699-RETRIEVE-01", "skipped") in statuses(result) and result.verdict == "FAIL"


def test_the_cause_is_not_said_twice_when_a_check_already_failed(tmp_path: Path, schemas) -> None:
    # the step's own check fails (CREATE-01 expects 201, a list answers 200): that is the failure shown
    steps = LIST.replace("TMF699-LIST-01", "TMF699-CREATE-01").replace(
        "expect", "save: {lead_id: $.nothing}\n    expect") + GET
    rules = [rule for _, rule, status in statuses(run(tmp_path, schemas, steps)) if status == "failed"]
    assert rules == ["TMF699-CREATE-01"]


def test_a_feature_probe_without_the_value_declines_the_feature_and_fails_nothing(tmp_path: Path, schemas) -> None:
    probe = LIST.replace("expect", "feature: paging\n    declines: [404]\n    save: {lead_id: $.nothing}\n    expect")
    steps = probe + GET.replace("  - name: get\n", "  - name: get\n    feature: paging\n")
    result = run(tmp_path, schemas, steps)
    assert [s for _, _, s in statuses(result)] == ["passed", "passed", "skipped"]
    assert result.verdict == "PASS"


def test_a_warning_before_does_not_excuse_the_lack(tmp_path: Path, schemas) -> None:
    """A recommended check that failed is a warning, not the cause the skipped checks follow from."""
    steps = CREATE.replace("TMF699-CREATE-01]", "TMF699-CREATE-01, TMF630-LOCATION-01]").replace(
        "expect", "save: {lead_id: $.nothing}\n    expect") + GET
    (tmp_path / "s.yaml").write_text(HEAD + steps)
    with ReferenceServer(schemas=schemas, faults=frozenset({"no-location"})) as server:
        result = run_suite(tmp_path / "out", base_url=server.url, scenario_paths=[tmp_path / "s.yaml"],
                           notifications="off")
    failed = [(rule, status) for _, rule, status in statuses(result) if status == "failed"]
    assert failed == [("TMF630-LOCATION-01", "failed"), ("CTK-JSON-01", "failed")]
    assert result.verdict == "FAIL"


def test_the_lack_is_mandatory_even_on_a_step_whose_checks_are_recommended(tmp_path: Path, schemas) -> None:
    steps = LIST.replace("[TMF699-LIST-01]", "[{rule: TMF699-LIST-01, level: recommended}]").replace(
        "expect", "save: {lead_id: $.nothing}\n    expect") + GET
    result = run(tmp_path, schemas, steps)
    lack = [c for c in result.checks() if c.rule_id == "CTK-JSON-01"]
    assert [c.level.value for c in lack] == ["mandatory"] and result.verdict == "FAIL"


def test_in_a_concurrent_block_the_cause_is_decided_in_the_scenario_order(tmp_path: Path, schemas) -> None:
    """Whichever step of a block finishes first, the report is the same: the earlier step's failure
    is the cause, and the later step's lack is not reported again."""
    block = ("  - name: a-fails\n    concurrent: x\n    request: {method: GET, path: /salesLead}\n"
             "    expect: [TMF699-CREATE-01]\n"
             "  - name: b-lacks\n    concurrent: x\n    request: {method: GET, path: /salesLead}\n"
             "    expect: [TMF699-LIST-01]\n    save: {lead_id: $.nothing}\n")
    reversed_block = block.split("  - name: b-lacks")
    seen = set()
    for i, steps in enumerate([block + GET] * 6 + [("  - name: b-lacks" + reversed_block[1]
                                                     + reversed_block[0]) + GET] * 2):
        folder = tmp_path / str(i)
        folder.mkdir()
        failed = tuple((name, rule) for name, rule, status in statuses(run(folder, schemas, steps))
                       if status == "failed")
        seen.add((i >= 6, failed))
    assert seen == {(False, (("a-fails", "TMF699-CREATE-01"),)),
                    (True, (("b-lacks", "CTK-JSON-01"), ("a-fails", "TMF699-CREATE-01")))}, seen

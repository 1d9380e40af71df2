"""A broken scenario file is rejected before any request, naming file, line and problem."""

from pathlib import Path

import pytest

from tmf699ctk._exceptions import ScenarioError
from tmf699ctk._scenarios import load_file, load_scenarios, select

GOOD = """\
id: T-1
title: a test
steps:
  - name: get
    request: {method: GET, path: /salesLead}
    expect: [TMF699-LIST-01]
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    return str(info.value)


def test_a_good_file_loads(tmp_path: Path) -> None:
    scenario = load_file(write(tmp_path, GOOD))
    assert scenario.id == "T-1" and scenario.steps[0].expect[0].rule.id == "TMF699-LIST-01"


def test_an_unknown_rule_names_the_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("TMF699-LIST-01", "TMF699-LIST-99"))
    assert message == f"{tmp_path / 's.yaml'}:6: unknown rule 'TMF699-LIST-99' (see `tmf699ctk list`)"


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD + "  - name: [unclosed\n")
    assert message.startswith(f"{tmp_path / 's.yaml'}:8: invalid YAML")


def test_a_missing_request_is_a_schema_error_with_line(tmp_path: Path) -> None:
    text = GOOD.replace("    request: {method: GET, path: /salesLead}\n", "")
    assert error_for(tmp_path, text) == f"{tmp_path / 's.yaml'}:4: steps[0]: 'request' is a required property"


def test_a_misspelt_key_is_rejected(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("expect:", "expekt:"))
    assert ":6: steps[0]: Additional properties are not allowed ('expekt' was unexpected)" in message


def test_a_wrong_method_is_rejected(tmp_path: Path) -> None:
    assert ":5: steps[0].request.method: 'FETCH' is not one of" in error_for(tmp_path, GOOD.replace("GET", "FETCH"))


def test_an_unknown_rule_argument_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("[TMF699-LIST-01]", "[{rule: TMF699-LIST-01, expectd: 200}]")
    assert "rule TMF699-LIST-01 takes no argument 'expectd' (accepted: expected)" in error_for(tmp_path, text)


def test_a_missing_rule_argument_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("[TMF699-LIST-01]", "[TMF699-CREATE-04]")
    assert ":6: rule TMF699-CREATE-04 needs sent" in error_for(tmp_path, text)


def test_a_template_syntax_error_is_reported_before_running(tmp_path: Path) -> None:
    text = GOOD.replace("/salesLead}", "'/salesLead/{{ lead.id }'}")
    assert ":5: template syntax error" in error_for(tmp_path, text)


def test_a_duplicate_key_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("title: a test\n", "title: a test\ntitle: again\n")
    assert ":3: duplicate key 'title' (first defined on line 2)" in error_for(tmp_path, text)


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    assert "must be a mapping" in error_for(tmp_path, "")


def test_duplicate_scenario_ids_across_files_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(ScenarioError, match="scenario id T-1 is also used by"):
        load_scenarios([tmp_path])


def test_every_broken_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("LIST-01", "LIST-98"), "a.yaml")
    write(tmp_path, GOOD.replace("T-1", "T-2").replace("LIST-01", "LIST-99"), "b.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenarios([tmp_path])
    assert "LIST-98" in str(info.value) and "LIST-99" in str(info.value)


def test_for_each_expands_one_step_per_value(tmp_path: Path) -> None:
    text = GOOD.replace("  - name: get\n", "  - name: get {{ a }}\n    for_each: {a: [x, y, z]}\n")
    steps = load_file(write(tmp_path, text)).steps
    assert [s.variables for s in steps] == [{"a": "x"}, {"a": "y"}, {"a": "z"}]


def test_the_bundled_suite_loads_and_both_profiles_plan() -> None:
    scenarios = load_scenarios()
    official = select(scenarios, "official")
    assert {s.id for s in official} == {"OFFICIAL-N1", "OFFICIAL-N2", "OFFICIAL-E1"}
    assert set(select(scenarios, "full")) > set(official)


BLOCKS = """\
id: T-B
title: concurrent blocks
steps:
  - name: a
    concurrent: seed
    request: {method: GET, path: /salesLead}
    save: {first: "$[0].id"}
  - name: b
    concurrent: seed
    request: {method: GET, path: /salesLead}
  - name: c
    concurrent: reads
    request: {method: GET, path: "/salesLead/{{ first }}"}
  - name: d
    concurrent: reads
    request: {method: GET, path: /salesLead}
  - name: e
    request: {method: GET, path: /salesLead}
  - name: f
    concurrent: true
    request: {method: GET, path: /salesLead}
"""


def test_named_concurrent_blocks_that_follow_each_other_stay_apart(tmp_path: Path) -> None:
    steps = load_file(write(tmp_path, BLOCKS)).steps
    groups = [step.group for step in steps]
    assert groups[0] == groups[1] is not None
    assert groups[2] == groups[3] is not None and groups[2] != groups[0]
    assert groups[4] is None and groups[5] is not None and groups[5] not in (groups[0], groups[2])


def test_a_step_may_not_use_what_its_own_block_saves(tmp_path: Path) -> None:
    text = BLOCKS.replace("concurrent: reads\n    request: {method: GET, path: \"/salesLead/{{ first }}\"}",
                          "concurrent: seed\n    request: {method: GET, path: \"/salesLead/{{ first }}\"}")
    message = error_for(tmp_path, text)
    expected = f"{tmp_path / 's.yaml'}:11: this step uses first, saved by another step of its concurrent block"
    assert message.startswith(expected), message


def test_a_bad_block_name_is_rejected(tmp_path: Path) -> None:
    message = error_for(tmp_path, BLOCKS.replace("concurrent: reads", "concurrent: 'two words'", 1))
    assert message == (f"{tmp_path / 's.yaml'}:12: steps[2].concurrent: 'two words' does not match "
                       "'^[a-z0-9][a-z0-9-]*$'")


SHARED = """\
id: T-SHARED
title: an exclusive part, then a shared one
exclusive: true
steps:
  - name: list
    request: {method: GET, path: /salesLead}
  - name: one
    for_each: {n: [1, 2]}
    shared: true
    request: {method: GET, path: /salesLead}
  - name: two
    request: {method: GET, path: /salesLead}
"""


def test_shared_ends_the_exclusive_part_at_its_first_loaded_step(tmp_path: Path) -> None:
    scenario = load_file(write(tmp_path, SHARED))
    assert scenario.exclusive == "scenario T-SHARED"
    assert scenario.shared_from == 1 and [s.shared for s in scenario.steps] == [False, True, True, False]
    assert load_file(write(tmp_path, SHARED.replace("    shared: true\n", ""))).shared_from is None


def test_shared_outside_an_exclusive_scenario_is_an_error_with_its_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, SHARED.replace("exclusive: true\n", ""))
    assert message == (f"{tmp_path / 's.yaml'}:8: shared: only an exclusive scenario (`exclusive:`) has an "
                       "exclusive part to end")
    teardown = SHARED + "teardown:\n  - name: last\n    shared: true\n    request: {method: GET, path: /salesLead}\n"
    message = error_for(tmp_path, teardown)
    assert message == f"{tmp_path / 's.yaml'}:15: shared: a teardown always runs alongside the other scenarios"
    message = error_for(tmp_path, SHARED.replace("shared: true", "shared: false"))
    assert message == f"{tmp_path / 's.yaml'}:9: steps[1].shared: True was expected"


# -- another version's file is set aside before it is parsed ----------------------------------------

@pytest.mark.parametrize("text, other", [
    ('api_versions: ["5.0.0"]\n', True),
    ("api_versions: [5.0.0]  # v5 only\n", True),
    ('api_versions: ["4.0.0", \'5.0.0\']\n', False),
    ('  api_versions: ["5.0.0"]\n', False),  # not a top-level key: the parser decides
    ('api_versions:\n  - "5.0.0"\n', False),  # block style: parsed
    ("api_versions: [*versions]\n", False),  # an alias: parsed
    ('api_versions: ["5.0.0"]\napi_versions: ["5.0.0"]\n', False),  # twice: the parser reports it
    ('{id: X,\napi_versions: ["5.0.0"]}\n', False),  # flow style: parsed
    ("api_versions: []\n", False),  # empty: the schema reports it
])
def test_only_a_plain_one_line_declaration_sets_a_file_aside_unparsed(text: str, other: bool) -> None:
    from tmf699ctk._scenarios import _declares_other_versions

    assert _declares_other_versions("id: X\n" + text, "4.0.0") is other


def test_setting_aside_unparsed_loads_exactly_what_parsing_everything_selects() -> None:
    every = load_scenarios()
    for version in ("4.0.0", "5.0.0"):
        assert [s.id for s in load_scenarios(api_version=version)] == \
               [s.id for s in every if s.applies_to(version)]


def test_a_broken_file_of_another_version_does_not_stop_this_versions_run(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, 'id: V5\napi_versions: ["5.0.0"]\nsteps: [oops\n', "b.yaml")
    assert [s.id for s in load_scenarios([tmp_path], api_version="4.0.0")] == ["T-1"]
    with pytest.raises(ScenarioError, match=r"b\.yaml"):
        load_scenarios([tmp_path], api_version="5.0.0")

"""`validate` catches every scenario-author mistake it can know before sending, with file:line and
exit 2; `run` on the same file exits 2 without sending a single request."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tmf699ctk import cli
from tmf699ctk._results import RunResult
from tmf699ctk._rule_args import argument_problems, argument_schema
from tmf699ctk._rules import RULES
from tmf699ctk._scenarios import load_scenarios

from .servers import http_server

HEAD = "id: T-1\ntitle: a test\n"
CREATE = """\
  - name: create
    request: {method: POST, path: /salesLead, json: {name: "x {{ run_id }}"}}
    expect: [TMF699-CREATE-01]
    save: {lead: $}
"""

# (test id, the steps, the line of the mistake, what the message says)
MISTAKES = [
    ("json-path-in-save", CREATE.replace("save: {lead: $}", "save: {lead: '$.items['}"), 7,
     "save lead: JSON path '$.items[': unexpected end of query"),
    ("json-path-in-expect", CREATE.replace("[TMF699-CREATE-01]", "[{rule: CTK-JSON-01, path: '$.@type'}]"), 6,
     "rule CTK-JSON-01: path: JSON path '$.@type': expected a shorthand selector at character 3 (a name that "
     "starts with another character needs brackets: $['@type'])"),
    ("regex-in-a-json-path-filter", CREATE.replace("save: {lead: $}", "save: {ids: \"$[?match(@.name, '[')].id\"}"),
     7, "save ids: JSON path \"$[?match(@.name, '[')].id\": invalid regular expression '[' in match()"),
    ("regex-in-json-assertion",
     CREATE.replace("[TMF699-CREATE-01]", "[{rule: CTK-JSON-01, path: $.name, matches: '^x ('}]"), 6,
     "rule CTK-JSON-01: matches: invalid regular expression '^x (': missing ), unterminated subpattern"),
    ("regex-in-header-assertion",
     CREATE.replace("[TMF699-CREATE-01]", "\n      - {rule: CTK-HEADER-01, name: Location, matches: '[a-'}"), 7,
     "rule CTK-HEADER-01: matches: invalid regular expression '[a-'"),
    ("template-syntax", CREATE + "  - name: get\n    request: {method: GET, path: '/salesLead/{{ lead.id }'}\n",
     9, "template syntax error in '/salesLead/{{ lead.id }': unexpected '}'"),
    ("unknown-filter", CREATE.replace("{{ run_id }}", "{{ run_id | upper_case }}"), 5,
     "template syntax error in 'x {{ run_id | upper_case }}': No filter named 'upper_case'"),
    ("undefined-variable", CREATE + "  - name: get\n    request: {method: GET, path: '/salesLead/{{ leed.id }}'}\n",
     9, "undefined variable 'leed' in '/salesLead/{{ leed.id }}' (defined here: payloads, run_id, base_url, lead); "
        "did you mean 'lead'?"),
    ("variable-saved-only-later",
     "  - name: get\n    request: {method: GET, path: '/salesLead/{{ lead.id }}'}\n" + CREATE, 5,
     "'lead' in '/salesLead/{{ lead.id }}' is saved only later, by step 'create': not defined yet here"),
    ("callback-url-without-the-listener",
     CREATE.replace("{name: \"x {{ run_id }}\"}", "{name: x, note: '{{ callback_url }}'}"), 5,
     "callback_url in '{{ callback_url }}' is defined only in a scenario with `requires: [notifications]`"),
    ("sandbox-private-attribute", CREATE.replace("{{ run_id }}", "{{ run_id.__class__ }}"), 5,
     "refused by the template sandbox: 'x {{ run_id.__class__ }}' reads the private attribute __class__"),
    ("sandbox-mutating-call", CREATE.replace("{{ run_id }}", "{{ payloads.update(a=1) }}"), 5,
     "refused by the template sandbox: 'x {{ payloads.update(a=1) }}' calls update(), which would modify a value"),
    ("sandbox-include", CREATE.replace("{{ run_id }}", "{% include '/etc/passwd' %}"), 5,
     "refused by the template sandbox: \"x {% include '/etc/passwd' %}\" uses {% include %}: templates cannot "
     "read other files"),
    ("sandbox-unavailable-function", CREATE.replace("{{ run_id }}", "{{ range(3) | list }}"), 5,
     "undefined variable 'range' in 'x {{ range(3) | list }}'"),
    ("status-as-a-string", CREATE.replace("[TMF699-CREATE-01]", "[{rule: CTK-STATUS-01, expected: '201'}]"), 6,
     "rule CTK-STATUS-01: expected is '201' (a string); expected an integer from 100 to 599 or a list of integers "
     "from 100 to 599"),
    ("status-out-of-range", CREATE.replace("[TMF699-CREATE-01]", "[{rule: CTK-STATUS-01, expected: 2010}]"), 6,
     "rule CTK-STATUS-01: expected is 2010 (an integer); expected an integer from 100 to 599"),
    ("list-argument-given-a-string",
     CREATE.replace("[TMF699-CREATE-01]", "[{rule: TMF699-CREATE-03, attributes: id}]"), 6,
     "rule TMF699-CREATE-03: attributes is 'id' (a string); expected a list of strings"),
    ("json-type-name", CREATE.replace("[TMF699-CREATE-01]", "[{rule: CTK-JSON-01, path: $.id, type: str}]"), 6,
     "rule CTK-JSON-01: type is 'str' (a string); expected one of 'object', 'array', 'string'"),
    ("filter-operator", CREATE + "  - name: list\n    request: {method: GET, path: /salesLead}\n"
     "    expect: [{rule: TMF630-FILTER-01, where: {creationDate.after: x}}]\n", 10,
     "rule TMF630-FILTER-01: where: 'creationDate.after' does not match"),
    ("text-template-in-an-integer-argument",
     CREATE.replace("[TMF699-CREATE-01]", "[{rule: CTK-STATUS-01, expected: '20{{ run_id }}'}]"), 6,
     "rule CTK-STATUS-01: expected is text with a template inside, which renders to a string"),
    ("notification-rule-in-a-request-step", CREATE.replace("[TMF699-CREATE-01]", "[TMF699-EVENT-03]"), 6,
     "rule TMF699-EVENT-03 examines a notification: use it in a step with wait_event"),
    ("wait-without-the-listener", CREATE + "  - name: wait\n    wait_event: {subscription: x}\n", 9,
     "wait_event needs the kit's listener: add `requires: [notifications]` to the scenario"),
]


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """A real server that answers 200 to everything and counts what reached it."""
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            with lock:
                seen.append(f"{self.command} {self.path}")
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url, seen


def ctk(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """The real entry point, in this process: exit code and everything printed."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "argv", ["tmf699ctk", *args])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    out = capsys.readouterr()
    return int(stopped.value.code or 0), out.out + out.err


@pytest.mark.parametrize(("steps", "line", "message"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_validate_reports_the_mistake_at_its_line_and_run_sends_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        counting_server: tuple[str, list[str]], steps: str, line: int, message: str) -> None:
    scenario = tmp_path / "mistake.yaml"
    scenario.write_text(HEAD + "steps:\n" + steps)
    code, output = ctk(capsys, monkeypatch, "validate", str(scenario))
    assert code == 2, output
    assert f"{scenario}:{line}: {message}" in output
    url, seen = counting_server
    code, output = ctk(capsys, monkeypatch, "run", "--base-url", url, "--scenarios", str(scenario),
                       "-o", str(tmp_path / "out"))
    assert code == 2 and f"{scenario}:{line}: {message}" in output
    assert seen == [] and not (tmp_path / "out").exists()


def test_every_mistake_in_a_file_is_reported_at_once_in_line_order(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = tmp_path / "many.yaml"
    scenario.write_text(HEAD + "steps:\n" + CREATE.replace("{{ run_id }}", "{{ nope }}").replace(
        "[TMF699-CREATE-01]", "[{rule: CTK-STATUS-01, expected: '201'}]").replace("$}", "'$['}"))
    code, output = ctk(capsys, monkeypatch, "validate", str(scenario))
    lines = [line.removeprefix("error: ") for line in output.splitlines()]
    assert code == 2 and all(line.startswith(f"{scenario}:") for line in lines), output
    assert [int(line.split(":")[1]) for line in lines] == [5, 6, 7]
    assert "undefined variable 'nope'" in lines[0] and "expected is '201'" in lines[1] and "save lead" in lines[2]


def test_what_a_step_may_read_is_defined(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented globals, the loop variable, earlier saves, callback_url with the listener,
    whole-expression arguments (typed once rendered), filters and tests the sandbox allows."""
    scenario = tmp_path / "fine.yaml"
    scenario.write_text(HEAD + "requires: [notifications]\nsteps:\n" + CREATE + """\
  - name: "GET {{ attribute }} of {{ lead.id }} at {{ base_url }}"
    for_each: {attribute: [name, status]}
    request:
      method: GET
      path: /salesLead
      query: {fields: "{{ attribute }}", name: "{{ payloads.full.name if payloads.full else run_id }}"}
    expect:
      - {rule: TMF630-FIELDS-01, fields: ["{{ attribute }}"], expected: "{{ lead }}"}
      - {rule: CTK-STATUS-01, expected: "{{ [200, 206] }}"}
      - {rule: CTK-JSON-01, path: "$[*].id", matches: '^[0-9a-f-]+$', length: 1}
    save: {listed: "$[?@.name == 'x'].id"}
  - name: hub
    request: {method: POST, path: /hub, json: {callback: "{{ callback_url }}"}}
    expect: [{rule: TMF630-HUB-02, callback: "{{ callback_url }}"}]
  - name: event
    wait_event: {subscription: "{{ callback_url }}", about: "{{ (listed | first) if listed else lead.id }}"}
    expect: [TMF699-EVENT-01]
teardown:
  - name: delete
    request: {method: DELETE, path: "/salesLead/{{ lead.id }}"}
""")
    code, output = ctk(capsys, monkeypatch, "validate", str(scenario))
    assert code == 0 and "1 scenarios, 6 steps: valid" in output, output


def test_the_bundled_suite_validates() -> None:
    assert load_scenarios()


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_has_an_argument_schema_its_defaults_satisfy(rule) -> None:
    schema = argument_schema(rule)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert argument_problems(rule, dict(rule.defaults)) == []
    assert set(rule.defaults) <= set(schema["properties"])


def test_a_json_path_built_at_run_time_is_a_scenario_error_not_a_server_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        counting_server: tuple[str, list[str]]) -> None:
    scenario = tmp_path / "late.yaml"
    scenario.write_text(HEAD + """steps:
  - name: list
    request: {method: GET, path: /salesLead}
    expect:
      - {rule: CTK-STATUS-01, expected: 200}
      - {rule: CTK-JSON-01, path: "$.{{ 'items[' }}"}
  - name: list again
    request: {method: GET, path: /salesLead}
    expect: [{rule: CTK-STATUS-01, expected: 200}]
""")
    url, seen = counting_server
    code, output = ctk(capsys, monkeypatch, "validate", str(scenario))
    assert code == 0  # the path is only known once rendered
    code, output = ctk(capsys, monkeypatch, "run", "--base-url", url, "--scenarios", str(scenario),
                       "-o", str(tmp_path / "out"))
    assert code == 2, output
    assert len(seen) == 1  # the first step was sent; the scenario stopped at its error
    run = RunResult.read(tmp_path / "out" / "results.json")
    [(scenario_result, step)] = run.scenario_errors()
    assert step.name == "list" and "JSON path '$.items[': unexpected end of query" in step.scenario_error
    assert {c.status.value for c in step.checks} == {"error"}
    assert "scenario error" in output and not any(line.startswith("FAIL") for line in output.splitlines())
    later = scenario_result.steps[1]
    assert later.skipped_reason and "has a scenario error" in later.skipped_reason
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["scenarios"][0]["steps"][0]["scenario_error"] == step.scenario_error

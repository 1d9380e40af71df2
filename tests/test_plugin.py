"""The pytest plugin, run through pytester against real servers on 127.0.0.1."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tmf699ctk import _pipeline
from tmf699ctk._plan import build_plan
from tmf699ctk._results import Status, is_blocking
from tmf699ctk._settings import build_settings
from tmf699ctk.server import ReferenceServer
from tmf699ctk.server.independent import IndependentServer

from .servers import closed_port_url

pytest_plugins = ["pytester"]
# Each pytest run is a process of its own: in-process, pytester drops the modules a run imported,
# and httpx would then no longer recognise a re-imported httpcore's exceptions.

TWO = ["--tmf699-scenario", "FULL-CREATE", "--tmf699-scenario", "FULL-DELETE", "--tmf699-notifications", "off"]
QUIET = ["-p", "no:cacheprovider", "-rfEsw"]


@pytest.fixture(autouse=True)
def no_kit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TMF699CTK_BASE_URL", "TMF699CTK_CONFIG", "TMF699CTK_SCENARIO", "TMF699CTK_NOTIFICATIONS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*args)


def checks_of(*scenarios: str) -> int:
    """How many checks the plan holds for these scenarios: one pytest item each."""
    plan = build_plan(build_settings({"run.only": list(scenarios), "notifications.mode": "off"}, env={}))
    return sum(len(step.expect) for s in plan.scenarios for step in (*s.steps, *s.teardown))


def kit_outcomes(tmp_path: Path, *scenarios: str, faults: tuple[str, ...] = ()) -> dict[str, int]:
    """What pytest must count for a run, from the kit's own run of the same suite: failed for every
    blocking check, a warning for every other failure, a skip for every skipped check and for each
    check the plan holds that the run did not record (one applied only to responses with a body)."""
    cli = {"run.embedded": True, "run.only": list(scenarios), "notifications.mode": "off",
           "run.faults": list(faults) or None, "output.report_dir": tmp_path / "kit"}
    checks = _pipeline.run(build_settings(cli, env={})).result.checks()
    blocking = sum(1 for c in checks if is_blocking(c))
    warned = sum(1 for c in checks if c.status in (Status.FAILED, Status.ERROR) and not is_blocking(c))
    skipped = sum(1 for c in checks if c.status == Status.SKIPPED)
    return {"failed": blocking, "warnings": warned, "passed": len(checks) - blocking - skipped,
            "skipped": skipped + checks_of(*scenarios) - len(checks)}


def test_the_plugin_is_inert_without_a_tmf699_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_vendor="""
        import sys

        def test_the_vendors_own_test():
            # nothing of the kit beyond the option declarations is even imported
            assert "tmf699ctk._runner" not in sys.modules and "tmf699ctk._plan" not in sys.modules
    """)
    result = run(pytester, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "plugins: tmf699ctk-" in result.stdout.str()  # installed with the kit, loaded by its entry point
    assert "tmf699::" not in result.stdout.str() and "TMF699 v4.0.0" not in result.stdout.str()
    assert "--tmf699-base-url=VALUE" in run(pytester, "--help").stdout.str()


def test_a_conformant_server_passes_every_check_item_and_says_what_it_tested(
        pytester: pytest.Pytester, server: ReferenceServer) -> None:
    result = run(pytester, "--tmf699-base-url", server.url, "--tmf699-scenario", "FULL-CREATE", *QUIET)
    result.assert_outcomes(passed=checks_of("FULL-CREATE"))
    result.stdout.fnmatch_lines([
        f"tmf699ctk *: TMF699 v4.0.0, profile full, 1 scenarios against {server.url}",
        "*- tmf699ctk -*", "1 scenario, * requests, * checks: 0 blocking, 0 warnings, 0 skipped (0 not supported)",
        "VERDICT: PASS (of the part that ran)",
    ])


def test_failures_name_rule_level_message_hint_and_curl_and_warnings_and_skips_map_to_pytest(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    junit = pytester.path / "junit.xml"
    result = run(pytester, "--tmf699-embedded", "--tmf699-fault", "delete-noop,no-location", *TWO,
                 *QUIET, f"--junitxml={junit}")
    # pytest counts what the kit counts: here 2 mandatory failures, 1 recommended warning (its item
    # passes), skips for the checks the failures gated and for the media-type check of a 204
    expected = kit_outcomes(tmp_path, "FULL-CREATE", "FULL-DELETE", faults=("delete-noop", "no-location"))
    assert expected["failed"] == 2 and expected["warnings"] == 1
    result.assert_outcomes(**expected)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*_ FULL-DELETE / GET /salesLead/{id} after the delete / TMF699-DELETE-03 _*",
        "TMF699-DELETE-03 [[]mandatory[]] failed: expected HTTP 404, got 200 OK*",
        "  rule:     A deleted lead is gone (GET answers 404)",
        "  hint:     Remove the lead: later GETs must answer 404.",
        "  scenario: FULL-DELETE (scenarios/full/08-delete.yaml:*)",
        "  step:     GET /salesLead/{id} after the delete",
        "  answer:   200 OK",
        "  reproduce: curl -i -X GET http://127.0.0.1:*/tmf-api/sales/v4/salesLead/* -H 'accept: application/json'",
    ])
    result.stdout.fnmatch_lines([
        "*RecommendedCheckWarning: TMF630-LOCATION-01 [[]recommended[]] warning: 201 Created without a Location "
        "header (FULL-CREATE / POST /salesLead with every *); hint: Add 'Location: *",
        "*- tmf699ctk -*", "2 scenarios, * requests, * checks: 2 blocking, 1 warning, * skipped (0 not supported)",
        "VERDICT: FAIL (of the part that ran)",
        "FAILED tmf699::FULL-DELETE::GET /salesLead/{id} after the delete::TMF699-DELETE-03*",
        "SKIPPED [[]1[]] *08-delete.yaml:*: skipped: not evaluated: TMF699-DELETE-03 failed*",
    ])
    result.stdout.fnmatch_lines([f"collected {checks_of('FULL-CREATE', 'FULL-DELETE')} items"])
    assert "Traceback" not in result.stdout.str() and "pytest_plugin.py" not in result.stdout.str()
    cases = ET.parse(junit).getroot().iter("testcase")
    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    failure = by_name[("tmf699.FULL-DELETE.GET /salesLead/{id} after the delete", "TMF699-DELETE-03")].find("failure")
    assert failure is not None and failure.get("message", "").startswith("[mandatory] TMF699-DELETE-03 failed: ")
    assert "reproduce: curl -i -X GET" in (failure.text or "")
    assert len(by_name) == checks_of("FULL-CREATE", "FULL-DELETE")


def test_optional_features_the_server_declines_are_skipped_as_not_supported(pytester: pytest.Pytester) -> None:
    with IndependentServer() as independent:
        result = run(pytester, "--tmf699-base-url", independent.url, "--tmf699-scenario", "FULL-FIELDS",
                     *QUIET)
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and outcomes["skipped"] >= 1, result.stdout.str()
    result.stdout.fnmatch_lines(["SKIPPED [[]*[]] *04-fields.yaml:*: not supported: fields=none: not offered by "
                                 "the server*"])


def test_k_chooses_the_scenarios_that_are_sent(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    result = run(pytester, "--tmf699-base-url", server.url, "-k", "FULL-DELETE and TMF699-DELETE", *TWO,
                 *QUIET)
    outcomes = result.parseoutcomes()
    # DELETE-01/02 on the delete, -03 on the read by id, -04 on the unknown id, -05 on the two lists
    assert outcomes["passed"] == 6 and outcomes["deselected"] > 6 and "failed" not in outcomes
    result.stdout.fnmatch_lines(["1 scenario, 6 requests, *", "VERDICT: PASS (of the part that ran)"])


def test_levels_families_and_tags_are_keywords(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--tmf699-base-url", closed_port_url(), "--collect-only", "-q",
                 "-k", "recommended", *TWO)
    lines = [line for line in result.stdout.lines if line.startswith("tmf699::")]
    plan = build_plan(build_settings({"run.only": ["FULL-CREATE", "FULL-DELETE"], "notifications.mode": "off"},
                                     env={}))
    recommended = [e.rule.id for sc in plan.scenarios for step in (*sc.steps, *sc.teardown) for e in step.expect
                   if e.level.value == "recommended"]
    assert recommended and sorted(line.rsplit("::", 1)[1].split(" ")[0] for line in lines) == sorted(recommended)


def test_collect_only_lists_the_checks_without_sending_anything(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--tmf699-base-url", closed_port_url(), "--collect-only", *TWO)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["<Tmf699Suite tmf699>", "  <ScenarioNode FULL-CREATE>",
                                 "    <StepNode POST /salesLead with every *>",
                                 "      <CheckItem TMF699-CREATE-01>"])
    assert "unreachable" not in result.stdout.str() and "VERDICT" not in result.stdout.str()


def test_an_unreachable_target_fails_its_checks_with_the_reason_and_masks_secrets(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--tmf699-base-url", closed_port_url(), "--tmf699-header",
                 "Authorization: Bearer s3cret-t0ken-42", *TWO, *QUIET)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = result.stdout.str()
    assert "s3cret-t0ken-42" not in text and "-H 'authorization: ********'" in text
    result.stdout.fnmatch_lines(["target unreachable: *", "VERDICT: FAIL*"])
    # a recommended check that could not be evaluated warns: it never fails, as in the verdict
    result.stdout.fnmatch_lines(["*RecommendedCheckWarning: TMF630-LOCATION-01 [[]recommended[]] error: cannot "
                                 "connect to 127.0.0.1:*"])
    assert "::TMF630-LOCATION-01" in text and not re.search(r"FAILED tmf699::\S.*::TMF630-LOCATION-01", text)


def test_the_environment_and_the_config_file_apply_once_the_suite_is_enabled(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    config = pytester.path / "tmf699ctk.yaml"
    config.write_text("run:\n  only: [FULL-CREATE]\nnotifications:\n  mode: 'off'\n")
    result = run(pytester, "--tmf699-config", str(config), "--tmf699-embedded", "--collect-only", "-q")
    assert {line.split("::")[1] for line in result.stdout.lines if line.startswith("tmf699::")} == {"FULL-CREATE"}
    monkeypatch.setenv("TMF699CTK_SCENARIO", "FULL-DELETE")  # the environment over the file
    result = run(pytester, "--tmf699-config", str(config), "--tmf699-embedded", "--collect-only", "-q")
    assert {line.split("::")[1] for line in result.stdout.lines if line.startswith("tmf699::")} == {"FULL-DELETE"}
    # the environment alone does not enable the suite: a vendor's CI may set it for `tmf699ctk run`
    pytester.makepyfile(test_vendor="def test_x():\n    pass\n")
    run(pytester, "-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize(("args", "message"), [
    (["--tmf699-profile", "bogus"], "  --tmf699-profile: must be one of official, full, got 'bogus'"),
    (["--tmf699-workers", "2"], "*give --tmf699-base-url URL*or --tmf699-embedded*"),
    (["--tmf699-embedded", "--tmf699-fault", "no-such-fault"], "*unknown fault(s) no-such-fault*"),
    (["--tmf699-config", "missing.yaml"], "*missing.yaml*"),
])
def test_bad_options_are_pytest_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_the_suite_runs_beside_the_vendors_tests(pytester: pytest.Pytester, server: ReferenceServer) -> None:
    pytester.makepyfile(test_vendor="def test_vendor():\n    assert True\n")
    result = run(pytester, "--tmf699-base-url", server.url, "--tmf699-scenario", "FULL-DELETE",
                 "--tmf699-notifications", "off", *QUIET)
    result.assert_outcomes(passed=checks_of("FULL-DELETE"), skipped=1)  # + the vendor's test, - the 204 check
    assert Path(server.url).name == "v4"

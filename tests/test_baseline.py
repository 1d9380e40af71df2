"""Baselines: every check marked against an earlier run, matched by scenario, step and rule ID."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from tmf699ctk import _pipeline
from tmf699ctk._baseline import Baseline, CheckKey, Mark, compare, comparison, keyed_checks, mark_for
from tmf699ctk._baseline_view import html_view, markdown_lines
from tmf699ctk._report_html import render_html
from tmf699ctk._report_markdown import render_markdown
from tmf699ctk._resources import package_file
from tmf699ctk._results import RunResult, ScenarioResult, Status, StepResult
from tmf699ctk._settings import build_settings

from .reportdata import HOSTILE, check, sample_run
from .servers import closed_port_url
from .test_cli import ctk

SCENARIOS = ["FULL-CREATE", "FULL-DELETE"]


def run_to(folder: Path, *faults: str, baseline: Path | None = None) -> Path:
    """A real run of two scenarios against the embedded server; its results.json."""
    cli = {"run.embedded": True, "run.only": SCENARIOS, "output.report_dir": folder,
           "notifications.mode": "off", "run.faults": list(faults) or None, "run.baseline": baseline}
    return _pipeline.run(build_settings(cli, env={})).outputs.results


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three saved runs: a clean server, then two faults, then one of them fixed and another broken."""
    root = tmp_path_factory.mktemp("runs")
    return {
        "clean": run_to(root / "clean"),
        "broken": run_to(root / "broken", "delete-noop", "no-location"),
        "changed": run_to(root / "changed", "no-location", "href-relative"),
    }


_WEIGHT = [Mark.NEW_FAILURE, Mark.STILL_FAILING, Mark.FIXED, Mark.NEW_PASS, Mark.UNVERIFIED, Mark.NEW, Mark.GONE]


def marks(compared: object) -> dict[tuple[str, str], Mark]:
    """The weightiest mark of each rule in each scenario (a rule may be checked at several steps)."""
    found: dict[tuple[str, str], Mark] = {}
    for c in compared.checks:
        key = (c.key.rule_id, c.key.scenario)
        if c.mark != Mark.UNCHANGED and (key not in found or _WEIGHT.index(c.mark) < _WEIGHT.index(found[key])):
            found[key] = c.mark
    return found


# -- the marks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after", "expected"), [
    ("passed", "failed", Mark.NEW_FAILURE), ("skipped", "error", Mark.NEW_FAILURE),
    ("not supported", "failed", Mark.NEW_FAILURE), (None, "failed", Mark.NEW_FAILURE),
    ("passed", "warning", Mark.NEW_FAILURE),
    ("failed", "failed", Mark.STILL_FAILING), ("error", "failed", Mark.STILL_FAILING),
    ("warning", "warning", Mark.STILL_FAILING),
    ("failed", "passed", Mark.FIXED), ("warning", "passed", Mark.FIXED),
    ("skipped", "passed", Mark.NEW_PASS), ("not supported", "passed", Mark.NEW_PASS),
    ("failed", "skipped", Mark.UNVERIFIED), ("passed", "not supported", Mark.UNVERIFIED),
    ("passed", "passed", Mark.UNCHANGED), ("skipped", "not supported", Mark.UNCHANGED),
    (None, "passed", Mark.NEW), (None, "skipped", Mark.NEW), ("failed", None, Mark.GONE), ("passed", None, Mark.GONE),
])
def test_each_pair_of_outcomes_has_one_mark(before: str | None, after: str | None, expected: Mark) -> None:
    assert mark_for(before, after) is expected


def test_two_saved_runs_mark_new_failures_and_everything_else_unchanged(saved: dict[str, Path]) -> None:
    compared = compare(RunResult.read(saved["broken"]), Baseline.load(saved["clean"]))
    found = marks(compared)
    assert {key for key, mark in found.items() if mark is Mark.NEW_FAILURE} == {
        ("TMF630-LOCATION-01", "FULL-CREATE"), ("TMF699-DELETE-03", "FULL-DELETE"), ("TMF699-DELETE-05", "FULL-DELETE")}
    # the recommended Location check warns: a new failure, but not one that blocks
    assert sorted(c.key.rule_id for c in compared.new_failures()) == ["TMF699-DELETE-03", "TMF699-DELETE-05"]
    # not evaluated once DELETE-03's status gate failed: no longer known to pass
    assert found[("TMF630-ERROR-01", "FULL-DELETE")] is Mark.UNVERIFIED
    others = [c for c in compared.checks if c.mark not in (Mark.NEW_FAILURE, Mark.UNCHANGED)]
    assert others and all(c.mark is Mark.UNVERIFIED and c.after == "skipped" for c in others)
    assert compared.verdict == "PASS" and compared.sha256 == Baseline.load(saved["clean"]).sha256
    assert len(compared.checks) == len(RunResult.read(saved["broken"]).checks())  # nothing new, nothing gone


def test_fixed_still_failing_and_new_failures_between_two_failing_runs(saved: dict[str, Path]) -> None:
    compared = compare(RunResult.read(saved["changed"]), Baseline.load(saved["broken"]))
    found = marks(compared)
    assert found[("TMF699-DELETE-03", "FULL-DELETE")] is Mark.FIXED
    assert found[("TMF699-DELETE-05", "FULL-DELETE")] is Mark.FIXED
    assert found[("TMF630-ERROR-01", "FULL-DELETE")] is Mark.NEW_PASS
    assert found[("TMF630-LOCATION-01", "FULL-CREATE")] is Mark.STILL_FAILING
    assert found[("TMF630-HREF-01", "FULL-CREATE")] is Mark.NEW_FAILURE
    assert [c.key.rule_id for c in compared.new_failures()] == ["TMF630-HREF-01"]
    # the href step is skipped now: its checks are unverified, and the media-type check applied to
    # every response with a body is not recorded at all, so it is gone
    assert found[("TMF630-HREF-02", "FULL-CREATE")] is Mark.UNVERIFIED
    gone = [c for c in compared.checks if c.mark is Mark.GONE]
    assert gone and {(c.key.rule_id, c.before) for c in gone} == {("TMF630-CT-01", "passed")}
    assert compared.counts()["new"] == 0


def test_a_run_compared_with_itself_is_unchanged(saved: dict[str, Path]) -> None:
    compared = compare(RunResult.read(saved["broken"]), Baseline.load(saved["broken"]))
    assert {c.mark for c in compared.checks} == {Mark.STILL_FAILING, Mark.UNCHANGED}
    assert compared.counts()["still-failing"] == 3 and not compared.new_failures()


# -- matching: by scenario, step and rule ID, never by position ------------------------------------


def synthetic(*scenarios: tuple[str, list[tuple[str, list[tuple[str, Status]]]]]) -> RunResult:
    run = sample_run()
    run.scenarios = [ScenarioResult(sid, sid, "s.yaml", [], steps=[StepResult(name, checks=[check(rule, status)
                                                                                           for rule, status in checks])
                                                                  for name, checks in steps])
                     for sid, steps in scenarios]
    run.finish()
    return run


def as_baseline(run: RunResult, tmp_path: Path) -> Baseline:
    path = tmp_path / "baseline.json"
    run.write(path)
    return Baseline.load(path)


P, F = Status.PASSED, Status.FAILED


def test_checks_are_matched_by_key_whatever_their_position(tmp_path: Path) -> None:
    before = synthetic(("A", [("get", [("R-X-01", P), ("R-Y-01", F)])]), ("B", [("post", [("R-Z-01", P)])]))
    # scenarios swapped, a step inserted, the checks of a step in another order
    after = synthetic(("B", [("new step", [("R-Q-01", P)]), ("post", [("R-Z-01", F)])]),
                      ("A", [("get", [("R-Y-01", P), ("R-X-01", P)])]))
    compared = compare(after, as_baseline(before, tmp_path))
    assert {(c.key.scenario, c.key.step, c.key.rule_id): c.mark for c in compared.checks} == {
        ("B", "new step", "R-Q-01"): Mark.NEW, ("B", "post", "R-Z-01"): Mark.NEW_FAILURE,
        ("A", "get", "R-Y-01"): Mark.FIXED, ("A", "get", "R-X-01"): Mark.UNCHANGED,
    }


def test_repeated_keys_are_told_apart_by_their_order_of_occurrence(tmp_path: Path) -> None:
    # two steps of one name, one rule twice in a step: the n-th occurrence meets the n-th
    before = synthetic(("A", [("get", [("R-X-01", P), ("R-X-01", F)]), ("get", [("R-X-01", P)])]))
    after = synthetic(("A", [("get", [("R-X-01", P), ("R-X-01", P)]), ("get", [("R-X-01", F)])]))
    assert list(keyed_checks(after)) == [CheckKey("A", "get", "R-X-01", n) for n in (1, 2, 3)]
    compared = compare(after, as_baseline(before, tmp_path))
    assert [(c.key.occurrence, c.mark) for c in compared.checks] == [
        (1, Mark.UNCHANGED), (2, Mark.FIXED), (3, Mark.NEW_FAILURE)]
    again = compare(after, as_baseline(before, tmp_path))
    assert again.checks == compared.checks  # deterministic


def test_checks_only_in_the_baseline_are_gone_and_new_failing_checks_count_as_new_failures(tmp_path: Path) -> None:
    before = synthetic(("A", [("get", [("R-X-01", F), ("R-OLD-01", P)])]))
    after = synthetic(("A", [("get", [("R-X-01", F), ("R-NEW-01", F)])]))
    compared = compare(after, as_baseline(before, tmp_path))
    by_rule = {c.key.rule_id: c for c in compared.checks}
    assert by_rule["R-OLD-01"].mark is Mark.GONE and by_rule["R-OLD-01"].after is None
    assert by_rule["R-NEW-01"].mark is Mark.NEW_FAILURE and by_rule["R-NEW-01"].before is None
    assert [c.key.rule_id for c in compared.new_failures()] == ["R-NEW-01"]


def test_differences_between_the_runs_are_noted(saved: dict[str, Path], tmp_path: Path) -> None:
    old = RunResult.read(saved["clean"])
    old.profile, old.aborted, old.abort_reason = "official", True, "interrupted by the user (Ctrl-C)"
    compared = compare(RunResult.read(saved["clean"]), as_baseline(old, tmp_path))
    notes = " ".join(compared.notes)
    assert "the baseline ran the official profile, this run the full profile" in notes
    assert "did not finish (interrupted by the user (Ctrl-C))" in notes


# -- stored in results.json, recomputed when read ---------------------------------------------------


def test_run_with_a_baseline_stores_the_comparison_in_results_json(saved: dict[str, Path], tmp_path: Path) -> None:
    path = run_to(tmp_path / "r", "delete-noop", baseline=saved["clean"])
    data = json.loads(path.read_text())
    jsonschema.validate(data, json.loads(package_file("results.schema.json").read_text()))
    section = data["baseline"]
    assert section["source"] == str(saved["clean"]) and section["sha256"] == Baseline.load(saved["clean"]).sha256
    assert section["counts"]["new-failure"] == 2 and section["verdict"] == "PASS"
    assert len(section["checks"]) == len(RunResult.read(path).checks())
    assert data["verdict"] == "FAIL"  # the verdict does not depend on the baseline


def test_stored_marks_are_recomputed_not_trusted(saved: dict[str, Path], tmp_path: Path) -> None:
    run = RunResult.read(saved["broken"])
    run.baseline = compare(run, Baseline.load(saved["clean"])).to_dict()
    forged = copy.deepcopy(run.to_dict())
    for entry in forged["baseline"]["checks"]:
        entry["mark"] = "unchanged"
    forged["baseline"]["counts"] = {m.value: 0 for m in Mark}
    reread = comparison(RunResult.from_dict(forged))
    assert reread is not None and reread.counts()["new-failure"] == 3


def test_a_missing_or_foreign_baseline_is_a_usage_error_before_anything_is_sent(tmp_path: Path) -> None:
    out = ctk("run", "--base-url", closed_port_url(), "--baseline", str(tmp_path / "nope.json"), "-o",
              str(tmp_path / "r"))
    assert out.returncode == 2 and "cannot read" in out.stderr and "nope.json" in out.stderr
    (tmp_path / "x.json").write_text('{"hello": 1}')
    out = ctk("run", "--base-url", closed_port_url(), "--baseline", str(tmp_path / "x.json"), "-o",
              str(tmp_path / "r"))
    assert out.returncode == 2 and "is not a tmf699ctk results file" in out.stderr
    assert not (tmp_path / "r" / "results.json").exists()


# -- shown in the terminal, the Markdown summary and the HTML report --------------------------------


def test_markdown_and_html_show_the_marks_and_escape_server_chosen_names(tmp_path: Path) -> None:
    before = synthetic(("A", [(f"get {HOSTILE}", [("R-X-01", P)])]))
    after = synthetic(("A", [(f"get {HOSTILE}", [("R-X-01", F)])]))
    after.baseline = compare(after, as_baseline(before, tmp_path)).to_dict()
    md = render_markdown(after, "d" * 64)
    assert "### Compared with the baseline" in md and "| **new-failure** | `R-X-01` | mandatory |" in md
    assert "<script>" not in md
    html = render_html(after, "d" * 64)
    assert 'id="baseline-section"' in html and "<strong>new-failure</strong>" in html
    assert "<script>window" not in html and "passed → failed" in html
    assert markdown_lines(sample_run()) == [] and html_view(sample_run()) is None
    assert 'id="baseline-section"' not in render_html(sample_run(), "d" * 64)


def test_run_fail_on_new_exits_1_only_for_new_failures_and_still_shows_the_verdict(
        saved: dict[str, Path], tmp_path: Path) -> None:
    common = ["run", "--embedded", "-s", "FULL-CREATE", "-s", "FULL-DELETE", "--notifications", "off"]
    out = ctk(*common, "--fault", "delete-noop,no-location", "--baseline", str(saved["broken"]), "--fail-on", "new",
              "-o", str(tmp_path / "same"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "VERDICT: FAIL" in out.stdout and "0 new failures, 3 still failing" in out.stdout
    assert "exit 0 (--fail-on new): no new failure since the baseline; the verdict is still FAIL" in out.stdout
    out = ctk(*common, "--fault", "href-relative", "--baseline", str(saved["broken"]), "-o", str(tmp_path / "new"),
              env={"TMF699CTK_FAIL_ON": "new"})
    assert out.returncode == 1 and "VERDICT: FAIL" in out.stdout
    assert "NEW-FAILURE   TMF630-HREF-01 [mandatory] FULL-CREATE" in out.stdout
    assert "FIXED         TMF699-DELETE-03" in out.stdout
    # without --fail-on new the verdict decides, baseline or not
    out = ctk(*common, "--fault", "delete-noop,no-location", "--baseline", str(saved["broken"]),
              "-o", str(tmp_path / "verdict"))
    assert out.returncode == 1 and "3 still failing" in out.stdout


def test_a_new_warning_alone_does_not_fail_with_fail_on_new(saved: dict[str, Path], tmp_path: Path) -> None:
    out = ctk("run", "--embedded", "-s", "FULL-CREATE", "-s", "FULL-DELETE", "--notifications", "off",
              "--fault", "no-location", "--baseline", str(saved["clean"]), "--fail-on", "new", "-o", str(tmp_path))
    assert out.returncode == 0 and "1 new failure (1 only a warning), 0 still failing" in out.stdout
    assert "NEW-FAILURE   TMF630-LOCATION-01 [recommended]" in out.stdout


def test_diff_prints_the_comparison_and_exits_1_for_new_failures(saved: dict[str, Path], tmp_path: Path) -> None:
    out = ctk("diff", str(saved["clean"]), str(saved["broken"]))
    assert out.returncode == 1, out.stderr
    assert "3 new failures (1 only a warning), 0 still failing, " in out.stdout
    assert "NEW-FAILURE   TMF699-DELETE-03 [mandatory] FULL-DELETE / GET /salesLead/{id} after the delete: " \
           "passed → failed" in out.stdout
    assert "2 new blocking failures: exit 1" in out.stdout
    out = ctk("diff", str(saved["broken"]), str(saved["broken"]))
    assert out.returncode == 0 and "0 new failures, 3 still failing" in out.stdout
    out = ctk("diff", str(saved["broken"]), str(saved["clean"]))
    assert out.returncode == 0 and "FIXED" in out.stdout
    out = ctk("diff", str(tmp_path / "missing.json"), str(saved["clean"]))
    assert out.returncode == 2 and "cannot read" in out.stderr and "Traceback" not in out.stderr


def test_report_re_renders_the_baseline_section_from_results_json(saved: dict[str, Path], tmp_path: Path) -> None:
    path = run_to(tmp_path / "r", "delete-noop", baseline=saved["clean"])
    out = ctk("report", str(path), "--markdown", str(tmp_path / "s.md"))
    assert out.returncode == 1
    assert "| **new-failure** | `TMF699-DELETE-03` | mandatory |" in (tmp_path / "s.md").read_text()
    html = next((tmp_path / "r").glob("*.html"))
    assert ctk("verify", str(html), str(path)).returncode == 0
    assert "<strong>new-failure</strong>" in html.read_text()


def test_results_without_a_baseline_keep_their_shape(saved: dict[str, Path]) -> None:
    data = json.loads(saved["clean"].read_text())
    assert data["baseline"] is None and data["schema_version"] == "2.2"
    assert comparison(RunResult.read(saved["clean"])) is None

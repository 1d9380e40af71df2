"""`verify`: every single-field edit of results.json is caught, re-rendered or not, and the edits
that would change what the evidence says are caught even when the forger recomputes the seal."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tmf699ctk._outputs import verify_report, write_outputs
from tmf699ctk._results import SEAL, RunResult, content_digest

from .cliproc import run_ctk
from .conftest import run_suite

Path_ = tuple[str | int, ...]


def _report(folder: Path, **options: Any) -> tuple[Path, Path, dict[str, Any]]:
    run_suite(folder, embedded=True, profile="official", **options)
    results = folder / "report" / "results.json"
    [html] = (folder / "report").glob("*.html")
    return html, results, json.loads(results.read_text())


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A complete official run of a server that answers 200 to a create: FAIL."""
    return _report(tmp_path_factory.mktemp("failing"), faults=frozenset({"create-200"}))


@pytest.fixture(scope="module")
def partial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """One scenario of the official profile, passing: PASS, but partial."""
    return _report(tmp_path_factory.mktemp("partial"), only=["OFFICIAL-N1"])


def _get(data: Any, path: Path_) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    forged = copy.deepcopy(data)
    holder = _get(forged, path[:-1])
    if value is _DELETE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return forged


_DELETE = object()


def _leaves(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))
    else:
        yield path, data


def _field(path: Path_) -> str:
    """('scenarios', 0, 'steps', 1, 'level') -> 'scenarios[0].steps[1].level'."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _check_path(data: dict[str, Any], status: str | None = None, level: str | None = None) -> Path_:
    for i, sc in enumerate(data["scenarios"]):
        for j, st in enumerate(sc["steps"]):
            for k, c in enumerate(st["checks"]):
                if (status is None or c["status"] == status) and (level is None or c["level"] == level):
                    return ("scenarios", i, "steps", j, "checks", k)
    raise LookupError(f"no {status} {level} check")


def _verify(folder: Path, html: Path, data: dict[str, Any], *, reseal: bool, rerender: bool) -> list[str]:
    """verify on a forged copy: as edited, or also re-rendered (as `tmf699ctk report` would), or
    also with the seal recomputed (a forger who read the kit's source)."""
    folder.mkdir(parents=True, exist_ok=True)
    if reseal:
        data = {**data, SEAL: content_digest(data)}
    results = folder / "results.json"
    results.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    report = folder / html.name
    report.write_text(html.read_text())
    if rerender:
        try:
            run = RunResult.read(results)
        except (ValueError, KeyError, TypeError):
            pass  # `tmf699ctk report` refuses it too (exit 2): the forger is left with the old report
        else:
            assert not write_outputs(run, results).problems
    return verify_report(report, results)


def test_untouched_evidence_is_authentic(failing, partial) -> None:
    for html, results, _ in (failing, partial):
        assert verify_report(html, results) == []


# (description, which run, path to the field, new value, words a problem must contain when resealed)
SEMANTIC = [
    ("verdict FAIL -> PASS", "failing", ("verdict",), "PASS", "verdict is 'PASS', but the checks give 'FAIL'"),
    ("scope.complete false -> true", "partial", ("scope", "complete"), True, "scope.complete is true"),
    ("scope.complete true -> false", "failing", ("scope", "complete"), False, "scope.complete is false"),
    ("scope.partial_reasons emptied", "partial", ("scope", "partial_reasons"), [], "scope.partial_reasons"),
    ("scope.suite_sha256", "failing", ("scope", "suite_sha256"), "0" * 64, "scope.suite_sha256"),
    ("scope.bundled_suite_sha256", "partial", ("scope", "bundled_suite_sha256"), "0" * 64,
     "scope.bundled_suite_sha256"),
    ("scope.scenarios", "partial", ("scope", "scenarios"), ["OFFICIAL-N1", "OFFICIAL-N2", "OFFICIAL-E1"],
     "scope.scenarios"),
    ("scope.kit_version", "failing", ("scope", "kit_version"), "9.9.9", "scope.kit_version"),
    ("scope.api_version", "failing", ("scope", "api_version"), "5.0.0", "scope.api_version"),
    ("scope.profile", "failing", ("scope", "profile"), "full", "scope.profile"),
    ("scope.started_at", "failing", ("scope", "started_at"), "2020-01-01T00:00:00.000Z", "scope.started_at"),
    ("scope.weakened loses the notifications mode", "failing", ("scope", "weakened", "notifications"), _DELETE,
     "scope.weakened"),
    ("ended_at", "failing", ("ended_at",), "2099-01-01T00:00:00.000Z", "scope.ended_at"),
    ("duration_ms", "failing", ("duration_ms",), 3_600_000.0, "duration_ms"),
    ("profile", "failing", ("profile",), "full", "scope.profile"),
    ("schema: a check status that is no status", "failing", ("scenarios", 0, "steps", 0, "checks", 0, "status"),
     "passd", "$.scenarios[0].steps[0].checks[0].status"),
    ("schema: a verdict that is no verdict", "failing", ("verdict",), "PASSED", "$.verdict"),
]


@pytest.mark.parametrize(("which", "path", "value", "named"), [s[1:] for s in SEMANTIC],
                         ids=[s[0] for s in SEMANTIC])
def test_an_edit_that_changes_what_the_evidence_says_is_named_even_resealed(
        tmp_path: Path, failing, partial, which: str, path: Path_, value: Any, named: str) -> None:
    html, _, data = failing if which == "failing" else partial
    forged = _set(data, path, value)
    for reseal, rerender in ((False, False), (False, True), (True, True)):
        problems = _verify(tmp_path / f"{reseal}-{rerender}", html, forged, reseal=reseal, rerender=rerender)
        assert problems, (reseal, rerender)
        if reseal:
            assert any(named in p for p in problems), problems


def test_every_summary_count_edited_alone_is_caught_and_named(tmp_path: Path, failing) -> None:
    html, _, data = failing
    counts = [(path, value) for path, value in _leaves(data["summary"], ("summary",))
              if isinstance(value, int) and not isinstance(value, bool)]
    assert len(counts) > 40  # checks, outcomes, by_level, by_family, requests, scenarios, blocking, ...
    for index, (path, value) in enumerate(counts):
        forged = _set(data, path, value + 1)
        field = ".".join(map(str, path))
        plain = _verify(tmp_path / f"p{index}", html, forged, reseal=False, rerender=True)
        resealed = _verify(tmp_path / f"r{index}", html, forged, reseal=True, rerender=True)
        assert plain and any(f"{field} is {value + 1}" in p for p in resealed), (field, resealed)


def test_a_check_status_or_level_edited_alone_is_caught(tmp_path: Path, failing) -> None:
    html, _, data = failing
    failed = _check_path(data, status="failed", level="mandatory")
    passed = _check_path(data, status="passed", level="mandatory")
    edits = {
        "failed -> passed": ((*failed, "status"), "passed", "summary."),
        "passed -> failed": ((*passed, "status"), "failed", "summary."),
        "failed -> skipped": ((*failed, "status"), "skipped", "summary."),
        "mandatory -> recommended": ((*failed, "level"), "recommended", _field((*failed, "level"))),
        "not supported": ((*passed, "not_supported"), True, "not_supported"),
        "rule title": ((*passed, "title"), "anything", "title or family"),
    }
    for name, (path, value, named) in edits.items():
        forged = _set(data, path, value)
        plain = _verify(tmp_path / f"{name}-p", html, forged, reseal=False, rerender=True)
        resealed = _verify(tmp_path / f"{name}-r", html, forged, reseal=True, rerender=True)
        assert plain, name
        assert any(named in p for p in resealed), (name, resealed)


def test_any_other_single_field_edit_is_caught_by_the_seal(tmp_path: Path, failing) -> None:
    """Facts no check can recompute (the platform, a message, a header) are covered by the seal."""
    html, _, data = failing
    edits = [("scope", "python"), ("scope", "platform"), ("scope", "workers"), ("target", "base_url"),
             ("metadata",), ("scenarios", 0, "steps", 0, "checks", 0, "message"),
             ("scenarios", 0, "steps", 0, "exchange", "response", "body"), (SEAL,)]
    for index, path in enumerate(edits):
        original = _get(data, path)
        value = {"company": "Forged"} if path == ("metadata",) else (
            original + 1 if isinstance(original, int) else f"{original}x")
        forged = _set(data, path, value)
        for rerender in (False, True):
            problems = _verify(tmp_path / f"{index}-{rerender}", html, forged, reseal=False, rerender=rerender)
            assert any("edited" in p or SEAL in p for p in problems), (path, problems)


def test_the_report_digest_edited_is_caught(tmp_path: Path, failing) -> None:
    html, results, _ = failing
    forged = tmp_path / html.name
    text = html.read_text()
    digest = text.split('<meta name="results-sha256" content="', 1)[1][:64]
    forged.write_text(text.replace(digest, "0" * 64))
    problems = verify_report(forged, results)
    assert any("the report names results.json SHA-256 " + "0" * 64 in p for p in problems)


def test_a_forged_pass_re_rendered_with_the_report_command_is_not_authentic(tmp_path: Path, failing) -> None:
    """The attack of issue 10: edit the verdict, re-render with `tmf699ctk report`, ask `verify`."""
    html, _, data = failing
    results = tmp_path / "results.json"
    forged = {**data, "verdict": "PASS"}
    results.write_text(json.dumps({**forged, SEAL: content_digest(forged)}, indent=2))
    env = {**os.environ, "NO_COLOR": "1"}
    rendered = run_ctk(["report", str(results)], env=env)
    assert rendered.returncode == 1  # the verdict the checks give
    assert "results.json's verdict is 'PASS', but the checks give 'FAIL'" in rendered.stderr
    report = tmp_path / html.name
    assert 'class="verdict FAIL"' in report.read_text()  # the renderer recomputes; it never shows PASS
    out = run_ctk(["verify", str(report), str(results)], env=env)
    assert out.returncode == 1
    assert "NOT AUTHENTIC: verdict is 'PASS', but the checks give 'FAIL'" in out.stdout


def test_a_file_that_is_not_results_is_named_not_a_traceback(tmp_path: Path, failing) -> None:
    html, _, data = failing
    broken = {k: v for k, v in data.items() if k != "scenarios"}
    problems = _verify(tmp_path, html, broken, reseal=True, rerender=False)
    assert any("at $: 'scenarios' is a required property" in p for p in problems)


def test_an_edited_report_is_caught_by_re_rendering(tmp_path: Path, failing) -> None:
    html, results, _ = failing
    edited = tmp_path / html.name
    original = html.read_text()
    edited.write_text(original.replace('aria-label="verdict">FAIL', 'aria-label="verdict">PASS'))
    assert edited.read_text() != original
    problems = verify_report(edited, results)
    assert any("differs from the report rendered from" in p and "it was edited" in p for p in problems)

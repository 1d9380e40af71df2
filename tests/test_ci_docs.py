"""docs/ci.md: every command of its pipelines runs, against the reference server on loopback, with
the environment the CI would give it.

The pipelines' shell is taken from the document itself. Lines that need the network (installing
from the package index, downloading the previous run's artifact) are simulated by the test, each
by name: any other line the document gains is run, or fails this test until it is accounted for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tmf699ctk import __version__
from tmf699ctk.server import ReferenceServer

DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
BIN = Path(sys.executable).parent
TOKEN = "ci-s3cret-t0ken-77"
INSTALL = f"python -m pip install tmf699ctk=={__version__}"
# the network lines of each pipeline, and what the test does in their place
GITHUB_FETCH = "gh run download"
GITLAB_FETCH = "curl --fail"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def github_workflow() -> dict[str, Any]:
    return next(d for d in map(yaml.safe_load, blocks("yaml")) if "jobs" in d)


def gitlab_job() -> dict[str, Any]:
    data = next(d for d in map(yaml.safe_load, blocks("yaml")) if "jobs" not in d)
    return data["tmf699-conformance"]


def ci_environment(home: Path, **extra: str) -> dict[str, str]:
    """What a CI job's shell has: the kit on PATH, a home, the CI's variables; nothing of ours."""
    return {"PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "CI": "true",
            # shorter waits for events, as in every test: the reference server delivers in milliseconds
            "TMF699CTK_EVENT_TIMEOUT": "2", "TMF699CTK_QUIET_PERIOD": "0.3", **extra}


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # the shell GitHub runs `run:` with, and GitLab's script lines, stop at the first failure
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@contextmanager
def target(*faults: str) -> Iterator[str]:
    with ReferenceServer(faults=frozenset(faults)) as server:
        yield server.url


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text


def report_texts(folder: Path) -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()]


def test_the_doc_pins_this_version_and_names_the_variables_the_kit_reads() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(INSTALL) == 2, f"both pipelines install tmf699ctk=={__version__}"
    from tmf699ctk._settings import OPTIONS

    named = set(re.findall(r"TMF699CTK_[A-Z_]+", text))
    assert named <= {o.env for o in OPTIONS} | {"TMF699CTK_CONFIG"}, named


# -- GitHub Actions ------------------------------------------------------------------------------------


def resolve(text: str, values: dict[str, str]) -> str:
    """GitHub's ${{ ... }} expressions, from the values a test gives (an unknown one fails)."""
    def value(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        assert expression in values, f"docs/ci.md uses ${{{{ {expression} }}}}: give the test its value"
        return values[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def run_github_job(workspace: Path, url: str, previous_report: Path | None) -> tuple[int, str, Path]:
    """Every step of the workflow, in order: (exit code of the test step, its output, step summary)."""
    summary = workspace.parent / f"{workspace.name}-summary.md"
    summary.write_text("")
    env = ci_environment(workspace.parent, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary),
                         GITHUB_REPOSITORY="acme/sales-api", GITHUB_WORKSPACE=str(workspace))
    expressions = {"secrets.TMF699_BASE_URL": url, "secrets.TMF699_TOKEN": TOKEN, "github.token": "ghs_unused"}
    code, output = None, ""
    steps = github_workflow()["jobs"]["conformance"]["steps"]
    ran = set()
    for step in steps:
        script = step.get("run")
        if script is None:
            assert step["uses"].split("@")[0] in {"actions/setup-python", "actions/upload-artifact",
                                                  "mikepenz/action-junit-report"}, step
            continue
        if script.strip() == INSTALL:  # the kit is installed in this test's environment
            ran.add("install")
            continue
        if GITHUB_FETCH in script:  # what `gh run download` puts in place, if there was a run before
            assert step.get("continue-on-error") is True
            if previous_report is not None:
                shutil.copytree(previous_report, workspace / "previous")
            ran.add("fetch")
            continue
        assert "tmf699ctk" in script, f"a step the test neither runs nor simulates: {script}"
        step_env = {**env, **{k: resolve(str(v), expressions) for k, v in step.get("env", {}).items()}}
        result = bash(resolve(script, expressions), workspace, step_env)
        code, output = result.returncode, result.stdout + result.stderr
        ran.add("test")
    assert ran == {"install", "fetch", "test"}
    assert code is not None
    return code, output, summary


def uploaded(workspace: Path) -> Path:
    """The folder actions/upload-artifact keeps: its `path`, as the workflow says."""
    step = next(s for s in github_workflow()["jobs"]["conformance"]["steps"]
                if s.get("uses", "").startswith("actions/upload-artifact"))
    assert step["if"] == "always()"
    junit = next(s for s in github_workflow()["jobs"]["conformance"]["steps"]
                 if s.get("uses", "").startswith("mikepenz/action-junit-report"))
    assert (workspace / junit["with"]["report_paths"]).is_file()
    return workspace / step["with"]["path"]


def test_the_github_workflow_tests_reports_and_compares_with_the_previous_run(tmp_path: Path) -> None:
    first, second, third = tmp_path / "run1", tmp_path / "run2", tmp_path / "run3"
    for workspace in (first, second, third):
        workspace.mkdir()

    with target() as url:  # the first run: no baseline, the verdict decides
        code, output, summary = run_github_job(first, url, previous_report=None)
    assert code == 0, output
    assert "VERDICT: PASS" in output and "Compared with the baseline" not in output
    artifact = uploaded(first)
    results = json.loads((artifact / "results.json").read_text())
    assert results["verdict"] == "PASS" and results["baseline"] is None
    assert "## ✅ TMF699 v4.0.0 conformance: PASS" in summary.read_text()
    assert_no_secret(output, summary.read_text(), *report_texts(artifact))
    assert "authorization" in (artifact / "results.json").read_text().lower()  # the header was sent, masked

    with target("delete-noop") as url:  # a regression: new failures fail the job
        code, output, summary = run_github_job(second, url, previous_report=artifact)
    assert code == 1, output
    assert "VERDICT: FAIL" in output and "NEW-FAILURE   TMF699-DELETE-03" in output
    text = summary.read_text()
    assert "### Compared with the baseline" in text and "| **new-failure** | `TMF699-DELETE-03` |" in text
    second_results = json.loads((uploaded(second) / "results.json").read_text())
    assert second_results["baseline"]["source"] == "previous/results.json"
    assert_no_secret(output, text, *report_texts(uploaded(second)))

    with target("delete-noop") as url:  # the same failures again: known, so the job passes
        code, output, summary = run_github_job(third, url, previous_report=uploaded(second))
    assert code == 0, output
    assert "VERDICT: FAIL" in output and "0 new failures, 2 still failing" in output
    assert "exit 0 (--fail-on new)" in output


# -- GitLab CI --------------------------------------------------------------------------------------------


def run_gitlab_job(workspace: Path, url: str, previous_artifact: Path | None) -> tuple[int, str]:
    """The job's script lines in one shell, as GitLab runs them; the network lines simulated."""
    env = ci_environment(workspace.parent, GITLAB_CI="true", CI_JOB_TOKEN="glcbt-unused",
                         CI_API_V4_URL="https://gitlab.invalid/api/v4", CI_PROJECT_ID="42", CI_DEFAULT_BRANCH="main",
                         CI_JOB_NAME="tmf699-conformance",
                         # the project's masked CI/CD variables
                         TMF699CTK_BASE_URL=url, TMF699CTK_HEADER=f"Authorization: Bearer {TOKEN}")
    lines = []
    for line in gitlab_job()["script"]:
        assert isinstance(line, str), f"a script line that YAML reads as {type(line).__name__}: quote it"
        if line == INSTALL:
            continue  # installed in this test's environment
        if line.startswith(GITLAB_FETCH):  # the artifacts API answers the previous job's zip, or 404
            assert "|| echo" in line  # and the job goes on without a baseline
            if previous_artifact is not None:
                lines.append(f"cp {previous_artifact} previous.zip")
            continue
        lines.append(line)
    result = bash("\n".join(lines), workspace, env)
    return result.returncode, result.stdout + result.stderr


def artifact_zip(workspace: Path, into: Path) -> Path:
    """The job's artifacts as GitLab archives them: its `paths`, relative to the project folder."""
    job = gitlab_job()
    assert job["artifacts"]["when"] == "always"
    assert (workspace / job["artifacts"]["reports"]["junit"]).is_file()
    with zipfile.ZipFile(into, "w") as archive:
        for kept in job["artifacts"]["paths"]:
            for path in sorted((workspace / kept).rglob("*")):
                archive.write(path, path.relative_to(workspace).as_posix())
    return into


def test_the_gitlab_job_tests_keeps_its_report_and_compares_with_the_previous_run(tmp_path: Path) -> None:
    first, second = tmp_path / "job1", tmp_path / "job2"
    first.mkdir()
    second.mkdir()
    with target() as url:
        code, output = run_gitlab_job(first, url, previous_artifact=None)
    assert code == 0, output
    assert "VERDICT: PASS" in output and (first / "report" / "summary.md").is_file()
    assert_no_secret(output, *report_texts(first / "report"))

    artifact = artifact_zip(first, tmp_path / "artifacts.zip")
    with target("delete-noop", "no-location") as url:
        code, output = run_gitlab_job(second, url, previous_artifact=artifact)
    assert code == 1, output
    assert "3 new failures (1 only a warning)" in output
    results = json.loads((second / "report" / "results.json").read_text())
    assert results["baseline"]["source"] == "previous/report/results.json"
    assert "### Compared with the baseline" in (second / "report" / "summary.md").read_text()
    assert_no_secret(output, *report_texts(second / "report"))


# -- the shell lines ---------------------------------------------------------------------------------------


def test_the_shell_examples_run_against_two_saved_runs(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "previous").mkdir(parents=True)
    with target() as url:
        env = ci_environment(tmp_path, TMF699CTK_BASE_URL=url, TMF699CTK_HEADER=f"Authorization: Bearer {TOKEN}")
        assert bash("tmf699ctk run --report-dir previous", workspace, env).returncode == 0
    with target("delete-noop") as url:
        env = ci_environment(tmp_path, TMF699CTK_BASE_URL=url, TMF699CTK_HEADER=f"Authorization: Bearer {TOKEN}")
        assert bash("tmf699ctk run --report-dir report", workspace, env).returncode == 1
        commands = [line for block in blocks("sh") for line in block.splitlines() if line.strip()]
        assert [c.split()[0] for c in commands] == ["tmf699ctk", "pytest"]
        outcomes = {c.split()[0]: bash(c, workspace, env) for c in commands}
    diff = outcomes["tmf699ctk"]
    assert diff.returncode == 1 and "2 new failures, 0 still failing" in diff.stdout
    suite = outcomes["pytest"]
    assert suite.returncode == 1, suite.stdout + suite.stderr  # the faulty server fails its DELETE checks
    assert "FAILED tmf699::FULL-DELETE::GET /salesLead/{id} after the delete::TMF699-DELETE-03" in suite.stdout
    assert (workspace / "report" / "pytest-junit.xml").is_file()
    assert_no_secret(suite.stdout, diff.stdout, (workspace / "report" / "pytest-junit.xml").read_text())


@pytest.mark.parametrize("variable", ["TMF699CTK_BASELINE", "TMF699CTK_FAIL_ON"])
def test_the_pipelines_set_the_baseline_through_the_environment(variable: str) -> None:
    github = next(s["run"] for s in github_workflow()["jobs"]["conformance"]["steps"]
                  if "tmf699ctk run" in s.get("run", ""))
    assert variable in github and variable in " ".join(gitlab_job()["script"])

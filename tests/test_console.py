"""The terminal is honest: one clear error for an unreachable target, errors never called FAIL,
live progress that counts requests and checks as they happen."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console

from tmf699ctk import _pipeline
from tmf699ctk._console import ConsoleProgress
from tmf699ctk._runner import GROUP_WORKERS
from tmf699ctk._settings import build_settings

from .cliproc import run_ctk
from .servers import closed_port_url


def test_an_unreachable_target_is_one_clear_error_not_a_list_of_failures(tmp_path: Path) -> None:
    url = closed_port_url()
    out = run_ctk(["run", "--base-url", url, "-o", str(tmp_path / "r")], env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == 3
    lines = out.stdout.splitlines()
    assert len(lines) < 36, out.stdout  # was ~120, and grew with the suite
    not_run = [line for line in lines if "more scenarios not run: the target is unreachable" in line]
    assert len(not_run) == 1  # the scenarios that never sent anything: one line, not one each
    host = url.split("//")[1].split("/")[0]
    assert sum(line.startswith("Target unreachable: ") for line in lines) == 1
    assert f"Target unreachable: cannot connect to {host}" in out.stdout
    assert not any(line.startswith("FAIL") for line in lines)  # errors are errors
    assert "hint:" not in out.stdout  # a server remediation says nothing about a closed port
    error_groups = [line for line in lines if line.startswith("ERROR ") and "checks (" in line]
    assert len(error_groups) == 1  # every check the refused connection stopped, told once
    sent = next(line for line in lines if "requests sent" in line or "request sent" in line)
    # what was already on its way when the first refusal came: at most the two scenarios that only read
    # and the paging scenario's seed block (sent together), never the rest of the suite (~140)
    assert 1 <= int(sent.split()[0]) <= 2 + GROUP_WORKERS, sent
    assert "checks skipped; most (" in out.stdout and "not sent: the target is unreachable" in out.stdout
    assert "PARTIAL RUN — not valid for certification" in lines[-1]


def test_progress_counts_requests_and_checks_as_they_happen(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    settings = build_settings({"run.embedded": True, "run.profile": "official", "output.report_dir": tmp_path},
                              env={})
    seen: list[tuple[int, int]] = []
    with ConsoleProgress(console) as progress:
        original = progress.step_finished

        def watch(scenario, step) -> None:
            original(scenario, step)
            seen.append((progress.requests, sum(progress.checks.values())))

        progress.step_finished = watch  # type: ignore[method-assign]
        finished = _pipeline.run(settings, observer=progress)
    summary = finished.result.summary
    assert progress.requests == summary["requests"]["sent"]
    assert progress.checks == {k: v for k, v in summary["outcomes"].items() if v}
    assert len(seen) > 3 and seen == sorted(seen) and seen[0][0] < seen[-1][0]  # it moved step by step
    assert "requests" in console.file.getvalue() and "checks" in console.file.getvalue()

"""The zygote that starts the command-line tests' processes (tests/cliproc.py) answers exactly
what a fresh `python -m tmf699ctk` answers, and is a process of its own: its exit codes, its
streams, its working directory, its environment, its hangs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .cliproc import _forkable, real_process, run_ctk

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}


@pytest.mark.parametrize("args", [
    ("--help",),
    ("list",),
    ("list", "--profile", "nope"),
    ("run",),
    ("run", "--bogus-option"),
    ("run", "--embedded", "--timeout", "nan"),
    ("serve", "--list-faults"),
    ("config", "--workers", "3", "-H", "X-Api-Key: k3y-not-shown-123"),
], ids=" ".join)
def test_the_same_answer_as_a_fresh_process(tmp_path: Path, args: tuple[str, ...]) -> None:
    forked, fresh = run_ctk(args, cwd=tmp_path, env=ENV), real_process(args, cwd=tmp_path, env=ENV)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert forked.stdout or forked.stderr  # something was said: the comparison is not of two silences


def test_a_run_writes_its_results_in_its_working_directory_with_its_environment(tmp_path: Path) -> None:
    env = {**ENV, "TMF699CTK_SCENARIO": "FULL-DELETE", "TMF699CTK_FAULT": "delete-noop"}
    out = run_ctk(["run", "--embedded", "-o", "r"], cwd=tmp_path, env=env)
    assert out.returncode == 1, out.stdout + out.stderr  # the fault, from the environment, fails the run
    results = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in results["scenarios"]] == ["FULL-DELETE"]
    assert "TMF699CTK_FAULT" not in os.environ  # the child's environment stayed the child's


def test_a_process_that_does_not_end_is_killed_at_its_timeout() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        run_ctk(["serve", "--port", "0"], env=ENV, timeout=2)
    assert run_ctk(["--help"], env=ENV).returncode == 0  # and the next command still runs


def test_what_a_fork_cannot_reproduce_is_a_fresh_process() -> None:
    base = dict(os.environ)
    assert _forkable({**base, "NO_COLOR": "1", "TMF699CTK_TIMEOUT": "3", "CTK_SECRET": "x"}, base)
    assert not _forkable({**base, "PYTHONPATH": "/elsewhere"}, base)  # read when the interpreter starts
    assert not _forkable({**base, "TERMINAL_WIDTH": "60"}, base)  # read when typer is imported
    assert not _forkable({k: v for k, v in base.items() if k != "PATH"}, base)

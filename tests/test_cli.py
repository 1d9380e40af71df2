"""The command line as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tmf699ctk._scenarios import load_scenarios

from .cliproc import run_ctk
from .servers import closed_port_url


def ctk(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m tmf699ctk ARGS` in its own process (forked from a zygote that has imported the kit)."""
    return run_ctk(args, cwd=cwd, env={**os.environ, "NO_COLOR": "1", **(env or {})})


def test_embedded_run_passes_with_exit_0_and_writes_results(tmp_path: Path) -> None:
    out = ctk("run", "--embedded", "--report-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "VERDICT: PASS" in out.stdout
    assert json.loads((tmp_path / "r" / "results.json").read_text())["verdict"] == "PASS"


def test_a_failing_mandatory_check_exits_1_and_names_the_rule(tmp_path: Path) -> None:
    out = ctk("run", "--embedded", "--fault", "delete-noop", "-o", str(tmp_path / "r"))
    assert out.returncode == 1
    assert "FAIL TMF699-DELETE-03 [mandatory]" in out.stdout and "VERDICT: FAIL" in out.stdout


def test_a_recommended_failure_only_warns_and_exits_0(tmp_path: Path) -> None:
    out = ctk("run", "--embedded", "--fault", "no-location", "-o", str(tmp_path / "r"))
    assert out.returncode == 0
    assert "WARN TMF630-LOCATION-01 [recommended]" in out.stdout and "1 warning, " in out.stdout


def test_an_unreachable_target_exits_3_with_a_report(tmp_path: Path) -> None:
    out = ctk("run", "--base-url", closed_port_url(), "-o", str(tmp_path / "r"))
    assert out.returncode == 3
    assert "Target unreachable: cannot connect to 127.0.0.1" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    assert (tmp_path / "r" / "results.json").is_file()


def test_a_broken_scenario_file_exits_2_before_any_request(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: X-1\ntitle: t\nsteps:\n  - name: s\n    request: {method: GET, path: /x}\n"
                   "    expect: [NOPE-RULE-1]\n")
    out = ctk("run", "--base-url", closed_port_url(), "--scenarios", str(bad), "-o", str(tmp_path / "r"))
    assert out.returncode == 2
    assert f"error: {bad}:6: unknown rule 'NOPE-RULE-1'" in out.stderr
    assert not (tmp_path / "r").exists()


def test_usage_errors_exit_2() -> None:
    assert ctk("run").returncode == 2  # neither --base-url nor --embedded
    assert "not both" in ctk("run", "--embedded", "--base-url", "http://x").stderr
    assert "only applies to the embedded" in ctk("run", "--base-url", "http://x", "--fault", "create-200").stderr
    assert "unknown fault(s) nope" in ctk("run", "--embedded", "--fault", "nope").stderr
    assert ctk("run", "--embedded", "--profile", "nope").returncode == 2
    assert "expected 'Name: value'" in ctk("run", "--embedded", "-H", "broken").stderr
    assert ctk("run", "--bogus-option").returncode == 2
    assert "must be an absolute http(s) URL" in ctk("run", "--base-url", "ftp://x").stderr


def test_validate_checks_scenarios_and_config_without_a_server(tmp_path: Path) -> None:
    out = ctk("validate")
    bundled = len(load_scenarios())
    assert out.returncode == 0 and f"{bundled} scenarios" in out.stdout and "valid" in out.stdout
    config = tmp_path / "c.yaml"
    config.write_text("payloads:\n  salesLead:\n    full: {priority: high}\n")
    out = ctk("validate", "--config", str(config))
    assert out.returncode == 2 and "'name' is a required property" in out.stderr


def test_list_shows_scenarios_and_every_rule(tmp_path: Path) -> None:
    out = ctk("list")
    assert out.returncode == 0
    for text in ("OFFICIAL-N1", "FULL-FILTERING", "TMF630-FIELDS-01", "TMF630-LOCATION-01", "recommended"):
        assert text in out.stdout


def test_init_writes_a_config_that_validates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    assert ctk("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "tmf699ctk.yaml").read_text().startswith("# tmf699ctk configuration")
    assert ctk("validate", "--config", "tmf699ctk.yaml", cwd=tmp_path).returncode == 0
    again = ctk("init", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr


def test_run_works_from_any_working_directory(tmp_path: Path) -> None:
    out = ctk("run", "--embedded", "--profile", "official", cwd=tmp_path)
    assert out.returncode == 0
    assert list((tmp_path / "reports").glob("*/results.json"))


def test_serve_lists_faults() -> None:
    out = ctk("serve", "--list-faults")
    assert out.returncode == 0 and "delete-noop" in out.stdout

"""`submission`, `run --submission`, `verify BUNDLE.zip` and `init` as a user runs them: real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from .test_cli import ctk
from .test_submission import write_config


def test_run_with_submission_writes_a_bundle_that_verifies(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    out = ctk("run", "--embedded", "--profile", "official", "-c", str(config), "-o", str(tmp_path / "r"),
              "--submission")
    assert out.returncode == 0, out.stdout + out.stderr
    bundle = tmp_path / "r" / "ACMETELCO-TMF699-v4.0.0-certification.zip"
    assert f"wrote {bundle}: the certification bundle, run verdict PASS" in " ".join(out.stdout.split())
    checked = ctk("verify", str(bundle))
    assert checked.returncode == 0 and "authentic" in checked.stdout


def test_run_with_submission_and_missing_fields_exits_2_before_sending(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("report:\n  company: ACME\n")
    out = ctk("run", "--embedded", "-c", str(config), "-o", str(tmp_path / "r"), "--submission")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "report.product, report.release, submission.product_description" in out.stderr
    assert "submission.architecture_diagram" in out.stderr
    assert not (tmp_path / "r").exists()


def test_submission_of_a_failing_run_builds_a_document_and_require_pass_refuses_the_bundle(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    assert ctk("run", "--embedded", "--fault", "delete-noop", "-c", str(config), "-o", str(tmp_path / "r")
               ).returncode == 1
    results = tmp_path / "r" / "results.json"
    strict = ctk("submission", str(results), "-c", str(config), "-o", str(tmp_path / "strict"), "--require-pass")
    assert strict.returncode == 1
    assert "no bundle (--require-pass): the verdict is FAIL" in " ".join(strict.stdout.split())
    assert (tmp_path / "strict" / "ACMETELCO-TMF699-v4.0.0-Conformance.html").is_file()
    assert not list((tmp_path / "strict").glob("*.zip"))
    lenient = ctk("submission", str(results), "-c", str(config), "-o", str(tmp_path / "lenient"))
    assert lenient.returncode == 1 and "not valid for certification" in lenient.stdout
    bundle = tmp_path / "lenient" / "ACMETELCO-TMF699-v4.0.0-certification.zip"
    assert ctk("verify", str(bundle)).returncode == 0


def test_submission_names_the_fields_a_run_did_not_record(tmp_path: Path) -> None:
    assert ctk("run", "--embedded", "--profile", "official", "-o", str(tmp_path / "r")).returncode == 0
    config = write_config(tmp_path / "cfg")
    out = ctk("submission", str(tmp_path / "r" / "results.json"), "-c", str(config))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "report.company, report.product, report.release" in out.stderr
    assert "recorded by `run`" in out.stderr


def test_verify_names_what_was_tampered_and_exits_1(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    assert ctk("run", "--embedded", "--profile", "official", "-c", str(config), "-o", str(tmp_path / "r"),
               "--submission").returncode == 0
    bundle = tmp_path / "r" / "ACMETELCO-TMF699-v4.0.0-certification.zip"
    with zipfile.ZipFile(bundle, "a") as archive:
        archive.writestr("ACMETELCO-TMF699-v4.0.0-certification/notes.txt", "added later")
    out = ctk("verify", str(bundle))
    assert out.returncode == 1
    assert "NOT AUTHENTIC: notes.txt is in the bundle but not in the manifest: it was added" in out.stdout


def test_verify_without_results_needs_a_bundle(tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    report.write_text("<html></html>")
    out = ctk("verify", str(report))
    assert out.returncode == 2 and "give the results.json that" in out.stderr


def test_init_prompts_for_the_submission_fields(tmp_path: Path) -> None:
    answers = "\n".join(["Télécom Ä", "", "Sales Hub", "4.2", "ops@example.com", "product.md", "arch.png"]) + "\n"
    out = subprocess.run([sys.executable, "-m", "tmf699ctk", "init", "--prompt"], input=answers, text=True,
                         capture_output=True, cwd=tmp_path, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load((tmp_path / "tmf699ctk.yaml").read_text(encoding="utf-8"))
    assert data["report"]["company_short"] == "TELECOMA" and data["report"]["contact"] == "ops@example.com"
    assert data["submission"]["architecture_diagram"] == "arch.png"
    assert "fill in" not in out.stdout  # every required field was answered


@pytest.mark.parametrize(("stdin", "prompt", "code", "says"), [
    ("closed", None, 0, "wrote tmf699ctk.yaml"),  # not a terminal: nothing to ask, as with --no-prompt
    ("closed", "--prompt", 2, "--prompt reads the answers from standard input, which is closed"),
    ("two answers", "--prompt", 2, "standard input ended before every --prompt question was answered"),
])
def test_init_without_answers_on_stdin_says_so(tmp_path: Path, stdin: str, prompt: str | None, code: int,
                                               says: str) -> None:
    """`init <&-` was an internal error (sys.stdin is None); `--prompt` with too few answers ended in click's
    'Aborted!' and exit 1, which means a conformance failure."""
    command = [sys.executable, "-m", "tmf699ctk", "init", *([prompt] if prompt else [])]
    if stdin == "closed":
        command = ["sh", "-c", 'exec "$@" <&-', "sh", *command]
    out = subprocess.run(command, input="ACME\nAC\n" if stdin == "two answers" else None, text=True,
                         capture_output=True, cwd=tmp_path, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == code and says in out.stdout + out.stderr, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    assert (tmp_path / "tmf699ctk.yaml").exists() == (code == 0)


def test_ctrl_c_at_an_init_question_writes_nothing_and_says_interrupted(tmp_path: Path) -> None:
    """Was click's 'Aborted!' and exit 1 (a conformance failure's code): now the kit's interrupted, 3."""
    import select
    import signal

    process = subprocess.Popen([sys.executable, "-m", "tmf699ctk", "init", "--prompt"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                               env={**os.environ, "NO_COLOR": "1"})
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"ACME\n")
        process.stdin.flush()
        asked = b""
        while asked.count(b":") < 2:  # the second question is waiting for its answer
            ready, _, _ = select.select([process.stdout], [], [], 60)
            assert ready, asked
            asked += os.read(process.stdout.fileno(), 4096)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 3 and "interrupted: nothing was written" in err.decode(), err
    assert b"Aborted" not in err and b"Traceback" not in err
    assert not (tmp_path / "tmf699ctk.yaml").exists()


def test_init_without_prompting_lists_the_fields_to_fill(tmp_path: Path) -> None:
    out = ctk("init", "--no-prompt", cwd=tmp_path)
    assert out.returncode == 0
    assert "fill in: report.company, report.product, report.release" in " ".join(out.stdout.split())

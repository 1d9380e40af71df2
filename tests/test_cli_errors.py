"""No traceback from the command line, ever: every mistake a user can make is exit 2 and one
clear line (click's own usage errors included), and no error message echoes a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cliproc import run_ctk

SECRET = "sekret-value-31337"


def ctk(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m tmf699ctk ARGS` in its own process (forked from a zygote that has imported the kit)."""
    return run_ctk(args, cwd=cwd, env={**os.environ, "NO_COLOR": "1", **(env or {})})


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "garbage.json").write_text("garbage")
    (tmp_path / "partial.json").write_text('{"schema_version": "2.1"}')
    (tmp_path / "wrong-types.json").write_text(
        '{"schema_version": "2.1", "tool": {}, "spec": {}, "target": {}, "profile": "x", "started_at": "",'
        ' "scenarios": "not a list"}')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "page.html").write_text('<html><meta name="results-sha256" content="0"></html>')
    (tmp_path / "folder").mkdir()
    for name, header in (("accent", f'X-Tenant: "z\u00fcrich {SECRET}"'),
                         ("break", f'X-Tenant: "a\\r\\nX-B: {SECRET}"'), ("name", '"X Tenant": b')):
        (tmp_path / f"headers-{name}.yaml").write_text(f"target:\n  headers: {{{header}}}\n", encoding="utf-8")
    (tmp_path / "bad-type.yaml").write_text(f"target:\n  basic_auth: {{username: u, password: [{SECRET}]}}\n")
    return tmp_path


MISTAKES = [
    # a device read as a results file never ends: memory grew until the process was killed
    (("report", "/dev/zero"), "/dev/zero is not a tmf699ctk results file: a device, not a file"),
    (("diff", "/dev/zero", "/dev/zero"), "/dev/zero is not a tmf699ctk results file: a device, not a file"),
    (("verify", "/dev/zero", "/dev/zero"), "cannot read /dev/zero: a device, not a file"),
    (("submission", "/dev/zero"), "/dev/zero is not a tmf699ctk results file: a device, not a file"),
    (("run", "--embedded", "--baseline", "/dev/zero"), "/dev/zero is not a tmf699ctk results file: a device"),
    (("run", "--base-url", "http://127.0.0.1:1/api", "--proxy", "notaurl"), "must be a proxy URL"),
    (("run", "--base-url", "http://host:99999/api"), "Port out of range"),
    (("run", "--base-url", "http://[::1/api"), "is not a URL"),
    (("run", "--base-url", f"ftp://user:{SECRET}@host/api"), "must be an absolute http(s) URL"),
    (("run", "--embedded", "--max-body", "inf"), "expected a size such as 16MiB"),
    (("run", "--embedded", "--max-body", "12"), "at least 1 KiB"),
    (("run", "--embedded", "--timeout", "-1"), "must be positive"),
    (("run", "--embedded", "--timeout", "nan"), "must be a number of at most 86400"),
    (("run", "--embedded", "--timeout", "inf"), "must be a number of at most 86400"),
    (("run", "--embedded", "--clock-skew", "nan"), "must be a number of at most 86400"),
    (("run", "--embedded", "--max-time", "0"), "must be positive"),
    (("run", "--embedded", "--quiet-period", "1e9"), "must be a number of at most 86400"),
    (("run", "--embedded", "-o", "r", "--html", "r/results.json"), "the HTML report and the results file are the "
                                                                   "same file"),
    (("run", "--embedded", "--junit", "same.out", "--markdown", "same.out"), "--markdown and --junit are the same"),
    (("run", "--embedded", "-H", f"Authorization=Bearer {SECRET}"), "expected 'Name: value'"),
    (("run", "--embedded", "--user", SECRET), "expected 'name:password'"),
    # headers HTTP cannot carry: an internal error (UnicodeEncodeError), or every request an error and exit 1
    (("run", "--embedded", "-H", f"X-Tenant: z\u00fcrich-{SECRET}"), "header X-Tenant must be printable ASCII"),
    (("run", "--embedded", "--config", "headers-accent.yaml"), "value of header X-Tenant must be printable ASCII"),
    (("run", "--embedded", "--config", "headers-break.yaml"), "value of header X-Tenant must be printable ASCII"),
    (("run", "--embedded", "--config", "headers-name.yaml"), "'X Tenant' is not a header name"),
    (("run", "--embedded", "--config", "bad-type.yaml"), "not shown: it may be a secret"),
    (("run", "--embedded", "--config", "folder"), "cannot read config folder"),
    (("run", "--embedded", "--config", "missing.yaml"), "missing.yaml"),
    (("run", "--embedded", "--report-dir", "/proc/no/such"), "cannot create report folder"),
    (("run", "--embedded", "--junit", "folder"), "--junit folder cannot be written"),
    (("run", "--embedded", "--scenarios", "garbage.json"), "garbage.json:1:"),
    (("run", "--embedded", "--listen", "0.0.0.0:0"), "not a loopback address"),
    (("serve", "--port", "99999"), "Invalid value for '--port'"),
    (("serve", "--latency-ms", "-5"), "Invalid value for '--latency-ms'"),
    (("serve", "--host", "nonexistent.invalid", "--port", "0"), "cannot serve on nonexistent.invalid:0"),
    (("init", "no/such/folder/ctk.yaml"), "cannot write no/such/folder/ctk.yaml"),
    (("init", "folder"), "exists; use --force"),
    (("report", "garbage.json"), "is not a tmf699ctk results file"),
    (("report", "partial.json"), "is not a tmf699ctk results file"),
    (("report", "wrong-types.json"), "is not a tmf699ctk results file"),
    (("report", "deep.json"), "is not a tmf699ctk results file"),
    (("report", "binary.json"), "is not a tmf699ctk results file"),
    (("report", "missing.json"), "cannot read missing.json"),
    (("report", "folder"), "cannot read folder"),
    (("verify", "page.html", "missing.json"), "cannot read missing.json"),
    (("verify", "garbage.json"), "or a certification bundle (.zip)"),
    (("verify", "missing.zip"), "missing.zip"),
    (("submission", "wrong-types.json"), "is not a tmf699ctk results file"),
    (("validate", "garbage.json"), "garbage.json:1:"),
    (("validate", "folder"), "no scenario files found in folder"),
    (("config", "--config", "garbage.json"), "garbage.json:1:"),
    # a file that never ends: read whole, it hung and took all memory (killed, or an internal MemoryError)
    (("run", "--embedded", "--config", "/dev/zero"), "/dev/zero:0: larger than 16 MiB"),
    (("validate", "/dev/zero"), "/dev/zero:0: larger than 16 MiB"),
    (("list", "--profile", "nope"), "--profile must be one of"),
    (("run", "--bogus-option"), "No such option"),
    # a name longer than the file system allows (255 bytes) is an OSError from Path.exists() in Python 3.11
    (("run", "--embedded", "-o", "n" * 300), "cannot create report folder " + "n" * 300 + ": File name too long"),
    (("run", "--embedded", "--scenarios", "n" * 300), "n" * 300 + ": no such file"),
    (("run", "--embedded", "--ca-bundle", "n" * 300), "--ca-bundle " + "n" * 300 + ": no such file"),
    (("validate", "n" * 300), "n" * 300 + ": no such file"),
    (("init", "n" * 300), "cannot write " + "n" * 300 + ": File name too long"),
]


@pytest.mark.parametrize(("args", "says"), MISTAKES, ids=[" ".join(a)[:60] for a, _ in MISTAKES])
def test_a_mistake_is_exit_2_and_one_clear_line(files: Path, args: tuple[str, ...], says: str) -> None:
    out = ctk(*args, cwd=files, env={"GITHUB_STEP_SUMMARY": ""})
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stdout + out.stderr
    assert says in out.stderr, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert not (files / "reports").exists(), "nothing may be sent or written after a usage error"


def test_an_unwritable_step_summary_is_found_before_anything_is_sent(files: Path) -> None:
    out = ctk("run", "--embedded", "-o", "r", cwd=files, env={"GITHUB_STEP_SUMMARY": "/proc/no/such/summary.md"})
    assert out.returncode == 2 and "$GITHUB_STEP_SUMMARY /proc/no/such/summary.md cannot be written" in out.stderr
    assert not (files / "r" / "results.json").exists()


def test_ctrl_c_outside_the_run_is_one_line_too(files: Path) -> None:
    """An interrupt while the kit starts (before the run installs its handler) is not a traceback.

    Python turns SIGINT into KeyboardInterrupt only when its parent left SIGINT alone: under nohup or
    from a background job of a script, SIGINT is inherited ignored and the kill would never arrive
    (the test hung 60 s, then failed). The child sets what a terminal's Python has first."""
    proc = subprocess.Popen([sys.executable, "-c", "import signal, os, sys\n"
                             "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                             "sys.argv = ['tmf699ctk', 'list']\n"
                             "from tmf699ctk import cli\n"
                             "cli.app = lambda: os.kill(os.getpid(), signal.SIGINT) or signal.pause()\n"
                             "cli.main()"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=files)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and err.strip() == "interrupted" and "Traceback" not in out + err


def test_ctrl_c_inside_a_command_before_its_own_handler_is_one_line_and_exit_3(files: Path) -> None:
    """typer turns a KeyboardInterrupt raised inside a command into a silent exit 130; the kit says it
    as it says every interrupt (the exit-code table: 3). Here `list` is interrupted while it works."""
    proc = subprocess.Popen([sys.executable, "-c", "import signal, os, sys\n"
                             "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                             "sys.argv = ['tmf699ctk', 'list']\n"
                             "from tmf699ctk import cli\n"
                             "cli.make_console = lambda: os.kill(os.getpid(), signal.SIGINT) or signal.pause()\n"
                             "cli.main()"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=files)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.strip()) == (3, "interrupted") and "Traceback" not in out + err


@pytest.mark.parametrize("results", ["garbage.json", "deep.json", "wrong-types.json", "binary.json"])
def test_verify_calls_garbage_not_authentic_without_a_traceback(files: Path, results: str) -> None:
    out = ctk("verify", "page.html", results, cwd=files)
    assert out.returncode == 1 and "NOT AUTHENTIC" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr and "internal error" not in out.stderr


def test_report_says_an_output_it_could_not_write_with_exit_2(files: Path) -> None:
    first = ctk("run", "--embedded", "-o", "r", "--scenario", "FULL-DELETE", cwd=files)
    assert first.returncode == 0, first.stdout + first.stderr
    out = ctk("report", "r/results.json", "--html", "folder", cwd=files)
    assert out.returncode == 2 and "cannot write folder" in out.stderr, (out.stdout, out.stderr)
    same = ctk("report", "r/results.json", "--junit", "x.out", "--markdown", "x.out", cwd=files)
    assert same.returncode == 2 and "--markdown and --junit are the same file" in same.stderr
    assert not (files / "x.out").exists()
    over = ctk("report", "r/results.json", "--html", "r/results.json", cwd=files)
    assert over.returncode == 2 and "are the same file" in over.stderr
    assert (files / "r" / "results.json").read_text(encoding="utf-8").startswith("{")  # the evidence is intact


def test_markdown_to_the_step_summary_is_written_once(files: Path) -> None:
    """`--markdown "$GITHUB_STEP_SUMMARY"` is a plausible CI line: not two outputs on one path."""
    out = ctk("run", "--embedded", "-o", "r", "--scenario", "FULL-DELETE", "--markdown", "summary.md", cwd=files,
              env={"GITHUB_STEP_SUMMARY": str(files / "summary.md")})
    assert out.returncode == 0, out.stdout + out.stderr
    assert (files / "summary.md").read_text(encoding="utf-8").count("conformance:") == 1


@pytest.mark.parametrize(("where", "verdict"), [("a pipe closed after one line", "PASS"),
                                              ("a pipe closed after one line", "FAIL"),
                                              ("a full device", "PASS"), ("a closed descriptor", "FAIL")])
def test_output_nobody_can_read_costs_neither_the_evidence_nor_the_exit_code(tmp_path: Path, where: str,
                                                                           verdict: str) -> None:
    """`tmf699ctk run ... | head -1`, `> /dev/full`, `>&-`: what is printed cannot be written. The run
    still writes its results and report, and exits with its verdict (Click alone stopped at the next
    write with exit 1 having saved nothing; a full device was an internal error, a closed one a
    traceback)."""
    command = [sys.executable, "-m", "tmf699ctk", "run", "--embedded", "--notifications", "off", "-o",
               str(tmp_path / "out"), *(["--fault", "create-200"] if verdict == "FAIL" else [])]
    env = {**os.environ, "NO_COLOR": "1"}
    if where == "a pipe closed after one line":
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # the reader leaves: every later write meets a closed pipe
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    else:
        if where == "a closed descriptor":
            command = ["sh", "-c", 'exec "$@" >&-', "sh", *command]
        with open("/dev/full" if where == "a full device" else os.devnull, "w") as out:
            done = subprocess.run(command, cwd=tmp_path, stdout=out, stderr=subprocess.PIPE, env=env, timeout=120)
        code, stderr = done.returncode, done.stderr.decode()
    assert code == (0 if verdict == "PASS" else 1), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    saved = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert saved["verdict"] == verdict and saved["summary"]["scenarios"]["total"] > 1 and not saved["aborted"]
    assert list((tmp_path / "out").glob("*-HTMLReport.html"))


@pytest.mark.parametrize("target", ["a pipe", "a symbolic link"])
def test_an_output_path_that_names_no_plain_file_is_written_into_not_replaced(tmp_path: Path, target: str) -> None:
    """`--junit >(gzip > x.gz)` (a pipe, /dev/fd/N), `--junit /dev/null`, `--markdown latest.md` (a link):
    the output goes into what the path names. Renaming a temporary file over it could not work in /dev/fd
    (the output was lost, with an error) and, as root, replaced /dev/null or the link with a plain file."""
    command = [sys.executable, "-m", "tmf699ctk", "run", "--embedded", "--notifications", "off",
               "--scenario", "FULL-DELETE", "-o", str(tmp_path / "out")]
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        if target == "a pipe":
            read_end, write_end = os.pipe()
            proc = subprocess.Popen([*command, "--junit", f"/dev/fd/{write_end}"], cwd=tmp_path, stdout=out,
                                    stderr=err, pass_fds=(write_end,))
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                written = pipe.read().decode()
            code = proc.wait(timeout=120)
        else:
            (tmp_path / "kept.md").write_text("old", encoding="utf-8")
            (tmp_path / "latest.md").symlink_to(tmp_path / "kept.md")
            code = subprocess.run([*command, "--markdown", "latest.md"], cwd=tmp_path, stdout=out, stderr=err,
                                  timeout=120).returncode
            assert (tmp_path / "latest.md").is_symlink()
            written = (tmp_path / "kept.md").read_text(encoding="utf-8")
    stderr = (tmp_path / "stderr").read_text(encoding="utf-8")
    assert code == 0 and "error" not in stderr, stderr
    assert ("<testsuites" if target == "a pipe" else "conformance: PASS") in written
    assert (tmp_path / "out" / "results.json").is_file()


def test_a_passing_run_whose_output_could_not_be_written_does_not_exit_0(tmp_path: Path) -> None:
    """--junit into a pipe nobody reads any more (or a disk that fills during the run): results.json is
    written and the JUnit file is not. The run said 'error: cannot write ...' and still exited 0, so CI
    went on without the evidence it asked for (`report` exits 2 for the same)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe fails: EPIPE
    with open(tmp_path / "stderr", "wb") as err:
        code = subprocess.run([sys.executable, "-m", "tmf699ctk", "run", "--embedded", "--notifications", "off",
                               "--scenario", "FULL-DELETE", "-o", "out", "--junit", f"/dev/fd/{write_end}"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, pass_fds=(write_end,),
                              timeout=120).returncode
    os.close(write_end)
    stderr = (tmp_path / "stderr").read_text(encoding="utf-8")
    assert code == 2 and f"error: cannot write /dev/fd/{write_end}" in stderr, (code, stderr)
    assert json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["verdict"] == "PASS"


def test_text_the_terminal_cannot_encode_is_escaped_not_lost(tmp_path: Path) -> None:
    """An ASCII-only output encoding and a report folder named with an accent: the lines naming it,
    and the verdict after them, are printed (escaped), not dropped as if the reader had gone."""
    folder = tmp_path / "naïve"
    done = subprocess.run([sys.executable, "-m", "tmf699ctk", "run", "--embedded", "--notifications", "off",
                           "-o", str(folder)], cwd=tmp_path, capture_output=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "ascii"})
    out = done.stdout.decode("ascii")
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")
    assert "na\\xefve" in out and "VERDICT: PASS" in out
    assert (folder / "results.json").is_file()


LAUGHS = "target:\n  base_url: http://127.0.0.1:9/tmf-api/sales/v4\nx0: &a0 [" + ", ".join(["lol"] * 10) + "]\n" + \
    "".join(f"x{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]\n" for n in range(1, 9))


@pytest.mark.parametrize("command", ["run", "validate"])
def test_aliases_nested_in_aliases_are_refused_not_expanded_until_memory_runs_out(files: Path, command: str) -> None:
    """A 'billion laughs' YAML file (nine levels of ten aliases): one clear line naming the file,
    exit 2, instead of a run that hangs while its memory grows."""
    path = files / "laughs.yaml"
    path.write_text(LAUGHS, encoding="utf-8")
    proc = ctk(*(["run", "--config", str(path)] if command == "run" else ["validate", str(path)]), cwd=files)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:" in proc.stderr and "more than 100,000 values once its aliases" in proc.stderr
    assert "Traceback" not in proc.stderr

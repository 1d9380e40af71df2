"""Start-up cost (issue 11): what a `tmf699ctk run` does not need, it does not import.

Each check is a real process (a fresh interpreter), reading ``sys.modules``; nothing here measures
time (the benchmarks do, on a quiet machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# modules that only some commands or options need: never loaded by a plain run
NOT_FOR_A_RUN = (
    "authlib",  # OAuth2 only
    "tmf699ctk._baseline", "tmf699ctk._baseline_view",  # --baseline, `diff`
    "tmf699ctk._report_junit", "tmf699ctk._report_markdown", "xml.etree.ElementTree",  # --junit, --markdown
    "tmf699ctk._submission", "tmf699ctk._submission_bundle", "tmf699ctk._submission_config",
    "tmf699ctk._submission_docx", "docx", "lxml", "markdown_it",  # --submission, `submission`
    "tmf699ctk._evidence",  # `verify`, `report`
    "tmf699ctk.server",  # `serve`, --embedded
    "rich.progress",  # the live bar, on a terminal only
    "jsonpath",  # the v4 suite's paths are all plain ($, $.id): walked without the library
    "pydantic",  # typer 0.29+ builds a pydantic adapter per option (~0.1 s a command): pyproject keeps typer below
)


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules loaded once ``code`` has run in a fresh interpreter (it prints nothing itself)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NO_COLOR": "1", **(env or {})})
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def _unwanted(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m in NOT_FOR_A_RUN or m.startswith(tuple(f"{n}." for n in NOT_FOR_A_RUN)))


def test_importing_the_command_line_loads_none_of_the_optional_modules() -> None:
    assert _unwanted(_loaded_after("import tmf699ctk.cli")) == []


def test_help_loads_none_of_the_optional_modules() -> None:
    code = ("import sys, contextlib, io\nsys.argv = ['tmf699ctk', 'run', '--help']\nfrom tmf699ctk.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n    main()")
    assert _unwanted(_loaded_after(code)) == []


def test_a_run_loads_none_of_the_optional_modules(tmp_path: Path) -> None:
    """A real run (its own reference server in another process), reports written."""
    server = subprocess.Popen([sys.executable, "-m", "tmf699ctk", "serve", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split(" on ", 1)[1].split()[0]
        argv = ["tmf699ctk", "run", "--base-url", url, "-o", str(tmp_path / "r"), "-s", "FULL-CREATE",
                "--notifications", "off"]
        code = (f"import sys, contextlib, io\nsys.argv = {argv!r}\nfrom tmf699ctk.cli import main\n"
                "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n    main()")
        loaded = _loaded_after(code)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (tmp_path / "r" / "results.json").is_file()
    assert "tmf699ctk._runner" in loaded and "tmf699ctk._report_html" in loaded  # it did run and render
    assert _unwanted(loaded) == []

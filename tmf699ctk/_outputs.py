"""Write the renderers' outputs for a results.json; the same for `run` and `report`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from ._exceptions import UsageError
from ._report_html import render_html
from ._report_junit import render_junit
from ._report_markdown import render_markdown
from ._results import RunResult
from ._view import report_filename, sha256_file


@dataclass
class OutputRequest:
    html: Path | None = None  # None: next to results.json, named after the company
    junit: Path | None = None
    markdown: Path | None = None
    step_summary: bool = True  # append to $GITHUB_STEP_SUMMARY when it is set


def _write(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_outputs(run: RunResult, results_path: Path, request: OutputRequest) -> list[Path]:
    digest = sha256_file(results_path)
    html_path = request.html or results_path.parent / report_filename(run)
    written = [_write(html_path, render_html(run, digest))]
    if request.junit:
        written.append(_write(request.junit, render_junit(run)))
    markdown = None
    if request.markdown:
        markdown = render_markdown(run, digest)
        written.append(_write(request.markdown, markdown))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if request.step_summary and summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write((markdown or render_markdown(run, digest)) + "\n")
    return written


def verify_report(html_path: Path, results_path: Path) -> list[str]:
    """Problems that show the report or its evidence were altered; empty when both are authentic.

    The report is a pure rendering of results.json: re-rendering it must give the same bytes, and
    the digest on its cover must be the SHA-256 of the results file.
    """
    html = html_path.read_text(encoding="utf-8")
    digest = sha256_file(results_path)
    problems = []
    marker = '<meta name="results-sha256" content="'
    if marker not in html:
        return [f"{html_path} carries no results digest: not a tmf699ctk report"]
    claimed = html.split(marker, 1)[1].split('"', 1)[0]
    if claimed != digest:
        problems.append(f"the report names results.json SHA-256 {claimed}, but {results_path} has {digest}")
    run = RunResult.read(results_path)
    if run.tool.get("version") != __version__:
        problems.append(f"the results come from tmf699ctk {run.tool.get('version')}; re-rendering needs that "
                        f"version, this is {__version__}")
    elif render_html(run, claimed) != html:
        problems.append(f"{html_path} differs from the report rendered from {results_path}: it was edited")
    return problems

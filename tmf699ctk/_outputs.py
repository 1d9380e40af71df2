"""Saving and rendering: results.json first (atomically), then the renderers' outputs.

Output locations are checked before the first request is sent (``prepare_outputs``), so a run
never sends everything and then fails to write its evidence.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from . import __version__, _jsontext
from ._exceptions import OutputError, UsageError
from ._redact import Redactor
from ._report_html import render_html
from ._results import SEAL, RunResult, content_digest, refuse_device
from ._settings import OutputSettings
from ._view import report_filename, sha256_file

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


@dataclass(frozen=True)
class OutputPaths:
    """Where a run's outputs go, checked writable before anything is sent."""

    folder: Path
    html: Path | None  # None: in the folder, named after the company (known once results exist)
    junit: Path | None = None
    markdown: Path | None = None
    step_summary: Path | None = None

    @property
    def results(self) -> Path:
        return self.folder / "results.json"


@dataclass
class Written:
    paths: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # outputs that could not be written (results kept)


def default_report_dir() -> Path:
    return Path("reports") / datetime.now().strftime("%Y%m%d-%H%M%S")


def _probe(path: Path, what: str) -> None:
    """Create the folder and prove ``path`` can be written, leaving nothing new behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = os.path.exists(path)
        if os.path.isdir(path):
            raise IsADirectoryError(21, "is a folder", str(path))
        if _special(path):  # opening a named pipe would wait for its reader, then end what it reads
            if not os.access(path, os.W_OK):
                raise PermissionError(13, "Permission denied", str(path))
            return
        with open(path, "a", encoding="utf-8"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise UsageError(f"{what} {path} cannot be written: {exc.strerror or exc}") from exc


def prepare_outputs(output: OutputSettings, company: str | None = None, api_version: str = "4.0.0",
                    env: dict[str, str] | None = None) -> OutputPaths:
    """Check every output location; UsageError (exit 2, nothing sent) naming the one that fails."""
    env = dict(os.environ) if env is None else env
    folder = output.report_dir or default_report_dir()
    # os.path, not Path.exists(): a name too long for the file system is an OSError there (Python 3.11)
    created = [p for p in (folder, *folder.parents) if not os.path.exists(p)]  # innermost first
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create report folder {folder}: {exc.strerror or exc}") from exc
        _probe(folder / "results.json", "the results file")
        html = output.html or folder / report_filename_for(company, api_version)
        _probe(html, "the HTML report")
        for path, what in ((output.junit, "--junit"), (output.markdown, "--markdown")):
            if path is not None:
                _probe(path, what)
        summary = Path(env[STEP_SUMMARY_ENV]) if output.step_summary and env.get(STEP_SUMMARY_ENV) else None
        if summary is not None:
            _probe(summary, f"${STEP_SUMMARY_ENV}")
        if summary is not None and output.markdown is not None \
                and summary.expanduser().resolve() == output.markdown.expanduser().resolve():
            summary = None  # `--markdown "$GITHUB_STEP_SUMMARY"`: written once, as asked
        distinct_outputs([(folder / "results.json", "the results file"), (html, "the HTML report"),
                          (output.junit, "--junit"), (output.markdown, "--markdown"),
                          (summary, f"${STEP_SUMMARY_ENV}")])
    except UsageError:
        for path in created:  # a refused run leaves no empty report folder behind
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    return OutputPaths(folder, output.html, output.junit, output.markdown, summary)


def distinct_outputs(outputs: list[tuple[Path | None, str]]) -> None:
    """Two outputs written to one file would leave only the last (results.json under the HTML: the
    evidence gone): UsageError naming both."""
    seen: dict[Path, str] = {}
    for path, what in outputs:
        if path is None:
            continue
        key = path.expanduser().resolve()
        if key in seen:
            raise UsageError(f"{what} and {seen[key]} are the same file ({path}): give each output its own path")
        seen[key] = what


def report_filename_for(company: str | None, api_version: str) -> str:
    probe = RunResult(tool={}, spec={"version": api_version}, target={}, profile="", started_at="",
                      metadata={"company": company})
    return report_filename(probe)


def masked(run: RunResult, redactor: Redactor) -> RunResult:
    """The run as it may be shown: every secret masked, derived facts recomputed."""
    return RunResult.from_dict(redactor.masked(run.to_dict()))


def _atomic_write(path: Path, text: str | Callable[[TextIO], None]) -> None:
    """Write ``text`` (or what the callable writes to the file) to ``path`` via a temporary file.

    A path that names no regular file (/dev/null, /dev/stdout, a pipe such as `--junit >(gzip ...)`)
    is written into, not replaced: renaming a file over it would put a plain file in its place (as
    root, /dev/null itself)."""
    if _special(path):
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as out:
            if callable(text):
                text(out)
            else:
                out.write(text)
        return
    path = Path(os.path.realpath(path)) if os.path.islink(path) else path  # the file a link names, not the link
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # a lone surrogate from a server's JSON ("\ud800") is written as that escape, not a crash
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as out:
            if callable(text):
                text(out)
            else:
                out.write(text)
        os.chmod(temporary, 0o666 & ~_UMASK)  # as a plain open() would: mkstemp makes it private
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _special(path: Path) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a folder (a device, a pipe, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread exists
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def save_results(run: RunResult, path: Path) -> Path:
    """Write results.json atomically (a reader never sees half a file)."""
    data = run.to_dict()
    data[SEAL] = content_digest(data)  # as RunResult.to_json(), without holding the text

    def dump(out: TextIO) -> None:
        # streamed: the text of a large run is never held whole in memory besides the run itself;
        # the text json.dump(data, out, indent=2, ensure_ascii=False) writes, twice as fast
        _jsontext.dump(data, out)
        out.write("\n")

    try:
        _atomic_write(path, dump)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_outputs(run: RunResult, results_path: Path, paths: OutputPaths | None = None) -> Written:
    """Render every requested output from the saved results; a failure is reported, not raised,
    so one broken output never loses the others (results.json is already on disk)."""
    paths = paths or OutputPaths(results_path.parent, None)
    written = Written()
    try:
        digest = sha256_file(results_path)
    except OSError:  # written, but not readable back (a umask without the owner's read bit): its text
        digest = hashlib.sha256(run.to_json().encode("utf-8")).hexdigest()

    def attempt(path: Path, render: object) -> None:
        try:
            text = render() if callable(render) else str(render)
            _atomic_write(path, text)
            written.paths.append(path)
        except OSError as exc:
            written.problems.append(f"cannot write {path}: {exc.strerror or exc}")
        except Exception as exc:  # a renderer bug must not cost the other outputs
            written.problems.append(f"cannot render {path.name}: {type(exc).__name__}: {exc}")

    attempt(paths.html or results_path.parent / report_filename(run), lambda: render_html(run, digest))
    if paths.junit:  # imported only when asked for
        from ._report_junit import render_junit

        attempt(paths.junit, lambda: render_junit(run))
    if paths.markdown or paths.step_summary:  # imported only when asked for
        from ._report_markdown import render_markdown

        if paths.markdown:
            attempt(paths.markdown, lambda: render_markdown(run, digest))
        if paths.step_summary:
            try:
                with open(paths.step_summary, "a", encoding="utf-8", errors="backslashreplace") as handle:
                    handle.write(render_markdown(run, digest) + "\n")
            except OSError as exc:
                written.problems.append(f"cannot append to ${STEP_SUMMARY_ENV} {paths.step_summary}: "
                                        f"{exc.strerror or exc}")
    return written


def verify_report(html_path: Path, results_path: Path) -> list[str]:
    """Problems that show the report or its evidence were altered or do not hold together; empty
    when both are authentic.

    The report is a pure rendering of results.json: re-rendering it must give the same bytes, and
    the digest on its cover must be the SHA-256 of the results file. The results must match the
    shipped results schema and their seal; their verdict, summary and scope must follow from their
    checks and from the suite installed with this kit (``_evidence``).
    """
    from ._evidence import read_checked

    for path in (html_path, results_path):
        try:
            refuse_device(path)
        except ValueError as exc:  # as an unreadable file: the caller names the path it concerns
            raise OSError(errno.EINVAL, str(exc), str(path)) from None
    html = html_path.read_text(encoding="utf-8")
    digest = sha256_file(results_path)
    problems = []
    marker = '<meta name="results-sha256" content="'
    if marker not in html:
        return [f"{html_path} carries no results digest: not a tmf699ctk report"]
    claimed = html.split(marker, 1)[1].split('"', 1)[0]
    if claimed != digest:
        problems.append(f"the report names results.json SHA-256 {claimed}, but {results_path} has {digest}")
    try:
        data = json.loads(results_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # nested 100 000 deep is no results document either
        return [*problems, f"{results_path} is not JSON: {str(exc)[:200]}"]
    tool = data.get("tool") if isinstance(data, dict) else None
    version = tool.get("version") if isinstance(tool, dict) else None
    if version != __version__:
        return [*problems, f"the results come from tmf699ctk {version}; checking them needs that version, "
                           f"this is {__version__}"]
    run, found = read_checked(data)
    problems += found
    if run is not None and render_html(run, claimed) != html:
        problems.append(f"{html_path} differs from the report rendered from {results_path}: it was edited")
    return problems

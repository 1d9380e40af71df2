"""One verifiable certification bundle: the documents, the report, results.json and a manifest.

``verify_bundle`` trusts nothing in the zip: every file's SHA-256 against the manifest, the report
re-rendered from results.json, and every document's names, versions, date and verdict read back and
compared with results.json (HTML and Markdown are re-rendered byte for byte as well).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from . import __version__
from ._exceptions import UsageError
from ._outputs import verify_report
from ._report_html import render_html
from ._results import RunResult
from ._submission import (
    FORMATS,
    LABELS,
    LINK_TEXT,
    SECTIONS,
    TITLE,
    SubmissionFacts,
    bundle_name,
    claims,
    diagram_name,
    document_name,
    markdown_outline,
    render_document_html,
    render_document_markdown,
    submission_facts,
)
from ._submission_config import SubmissionInputs, parse_diagram
from ._submission_docx import EXTRA_HINT, docx_available, read_docx, render_document_docx
from ._view import PARTIAL_BANNER

MANIFEST = "manifest.json"
BUNDLE_FORMAT = "tmf699ctk-certification-bundle/1"
MAX_ENTRIES = 64
MAX_BUNDLE_BYTES = 1 << 30  # uncompressed; a bundle larger than this is not ours


@dataclass
class SubmissionOutcome:
    facts: SubmissionFacts
    written: list[Path] = field(default_factory=list)
    bundle: Path | None = None
    refused: str = ""  # why --require-pass refused the bundle


def read_run(results_path: Path) -> RunResult:
    """A results.json the submission can be built from (clear errors, never a traceback)."""
    try:
        run = RunResult.read(results_path)
    except OSError as exc:
        raise UsageError(f"cannot read {results_path}: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{results_path} is not a tmf699ctk results file: {exc}") from exc
    if run.tool.get("version") != __version__:
        raise UsageError(f"{results_path} comes from tmf699ctk {run.tool.get('version')}; its report and "
                         f"documents must be built by that version (this is {__version__})")
    return run


def choose_formats(requested: Sequence[str] | None) -> list[str]:
    """The document formats to write: those asked for, else all (DOCX only when its extra is installed)."""
    if not requested:
        return [f for f in FORMATS if f != "docx" or docx_available()]
    formats = [f.strip().lower() for item in requested for f in item.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UsageError(f"--format {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    if "docx" in formats and not docx_available():
        raise UsageError(f"--format docx: {EXTRA_HINT}")
    return [f for f in FORMATS if f in formats]


def _documents(facts: SubmissionFacts, inputs: SubmissionInputs, digest: str,
               formats: Sequence[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "html":
            files[document_name(facts, fmt)] = render_document_html(facts, inputs, digest).encode("utf-8")
        elif fmt == "md":
            files[document_name(facts, fmt)] = render_document_markdown(facts, inputs, digest).encode("utf-8")
        else:
            files[document_name(facts, fmt)] = render_document_docx(facts, inputs, digest,
                                                                    diagram_name(facts, inputs))
    return files


def build_files(run: RunResult, results_bytes: bytes, inputs: SubmissionInputs,
                formats: Sequence[str]) -> tuple[SubmissionFacts, dict[str, bytes]]:
    """Every file of the bundle by name, manifest included."""
    facts = submission_facts(run)
    digest = hashlib.sha256(results_bytes).hexdigest()
    files = _documents(facts, inputs, digest, formats)
    files[diagram_name(facts, inputs)] = inputs.diagram.data
    files[facts.report_file] = render_html(run, digest).encode("utf-8")
    files["results.json"] = results_bytes
    manifest = {
        "format": BUNDLE_FORMAT,
        "kit": {"name": "tmf699ctk", "version": __version__},
        "results": "results.json",
        "report": facts.report_file,
        "documents": {fmt: document_name(facts, fmt) for fmt in formats},
        "diagram": {"file": diagram_name(facts, inputs), "source": inputs.diagram.source,
                    "media_type": inputs.diagram.media_type},
        "product_description": inputs.product_description,
        "claims": claims(facts),
        "complete": facts.complete,
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(files.items())},
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return facts, files


def _zip(root: str, files: dict[str, bytes], when: str) -> bytes:
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
        stamp = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)
    except ValueError:
        stamp = (1980, 1, 1, 0, 0, 0)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: (n != MANIFEST, n)):
            entry = zipfile.ZipInfo(f"{root}/{name}", date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, files[name])
    return out.getvalue()


def _write(path: Path, data: bytes) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_submission(run: RunResult, results_path: Path, inputs: SubmissionInputs, out_dir: Path,
                     formats: Sequence[str] | None = None, require_pass: bool = False) -> SubmissionOutcome:
    """Write the documents (always) and the bundle (unless ``require_pass`` and the run cannot certify).

    ``run`` is ``read_run(results_path)``.
    """
    chosen = choose_formats(formats)
    try:
        results_bytes = results_path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {results_path}: {exc.strerror or exc}") from exc
    facts, files = build_files(run, results_bytes, inputs, chosen)
    outcome = SubmissionOutcome(facts)
    same_folder = out_dir.resolve() == results_path.parent.resolve()
    for name, data in files.items():
        if name == MANIFEST or (name == "results.json" and same_folder):
            continue
        target = out_dir / name
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue  # the report `run` just wrote
        outcome.written.append(_write(target, data))
    if require_pass and not facts.passed:
        why = [f"the verdict is {facts.verdict} ({facts.verdict_detail})"] if facts.verdict != "PASS" else []
        if not facts.complete:
            why.append(f"{PARTIAL_BANNER} ({'; '.join(facts.partial_reasons)})")
        outcome.refused = " and ".join(why)
        return outcome
    name = bundle_name(facts)
    outcome.bundle = _write(out_dir / name, _zip(name.removesuffix(".zip"), files, facts.started_at))
    return outcome


def describe(outcome: SubmissionOutcome) -> list[str]:
    """What the CLI tells the user about a written submission."""
    facts = outcome.facts
    lines = [f"wrote {path}" for path in outcome.written]
    state = f"{facts.verdict} ({facts.verdict_detail})" + ("" if facts.complete else f", {PARTIAL_BANNER}")
    if outcome.bundle:
        lines.append(f"wrote {outcome.bundle}: the certification bundle, run verdict {state}")
    if not facts.passed:
        lines.append(f"this run is not valid for certification: {state}; the document says so on its first page")
    if outcome.refused:
        lines.append(f"no bundle (--require-pass): {outcome.refused}")
    return lines


# -- verification ------------------------------------------------------------------------------

def _read_bundle(path: Path) -> tuple[str, dict[str, bytes], list[str]]:
    """(root folder, files by name under it, problems with the archive itself)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path} is not a readable zip file: {exc}") from exc
    problems: list[str] = []
    files: dict[str, bytes] = {}
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES or sum(e.file_size for e in entries) > MAX_BUNDLE_BYTES:
            raise UsageError(f"{path} is not a tmf699ctk bundle: too many or too large entries")
        roots = {e.filename.split("/", 1)[0] for e in entries}
        root = roots.pop() if len(roots) == 1 else ""
        if not root:
            problems.append("the bundle's files are not all inside one folder")
        for entry in entries:
            name = entry.filename.split("/", 1)[1] if "/" in entry.filename else ""
            if entry.is_dir() and name == "":
                continue
            if (not name or "/" in name or "\\" in name or name in (".", "..") or entry.is_dir()
                    or (entry.external_attr >> 16) & 0o170000 == 0o120000):
                problems.append(f"unexpected entry {entry.filename!r} (a bundle holds plain files in one folder)")
                continue
            if name in files:
                problems.append(f"{name} appears twice in the bundle")
                continue
            try:
                files[name] = archive.read(entry)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:  # a CRC mismatch: edited bytes
                problems.append(f"{name} cannot be read from the zip: {exc}")
    return root, files, problems


class _Claims(HTMLParser):
    """The ``data-claim`` elements of an HTML document: their text (the report link: its href)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.claims: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []
        self.headings: list[str] = []
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        name = values.get("data-claim")
        if name:
            if name == "report":
                self.claims.setdefault(name, values.get("href") or "")
            else:
                self._open.append((tag, name))
                self.claims.setdefault(name, "")
        if tag in ("h1", "h2"):
            self._heading = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()
        if tag in ("h1", "h2") and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.claims[self._open[-1][1]] += data
        if self._heading is not None:
            self._heading += data


def html_claims(text: str) -> tuple[dict[str, str], list[str]]:
    parser = _Claims()
    parser.feed(text)
    parser.close()
    return parser.claims, parser.headings


def markdown_claims(text: str) -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    labels = {v: k for k, v in LABELS.items()}
    for label, value in re.findall(r"^\| \*\*(.+?)\*\* \| (.*) \|$", text, re.MULTILINE):
        if label in labels:
            found.setdefault(labels[label], value.replace("\\|", "|"))  # the header table comes first
    if match := re.search(r"^\*\*Conformance result: (\S+)\*\*", text, re.MULTILINE):
        found["verdict"] = match.group(1)
    if re.search(r"^Suite scope: complete ", text, re.MULTILINE):
        found["scope"] = "complete"
    elif f"> **{PARTIAL_BANNER}**" in text:
        found["scope"] = PARTIAL_BANNER
    if match := re.search(re.escape(LINK_TEXT) + r" \[[^\]]*\]\(([^)]*)\)", text):
        found["report"] = match.group(1)
    return found, markdown_outline(text)


def _compare(document: str, found: dict[str, str], expected: dict[str, str]) -> list[str]:
    return [f"{document} says {key} {found.get(key)!r}, but results.json gives {value!r}"
            for key, value in expected.items() if found.get(key) != value]


def verify_bundle(path: Path) -> list[str]:
    """Problems showing that a bundle, or anything in it, was altered; empty when it is authentic."""
    root, files, problems = _read_bundle(path)
    if MANIFEST not in files:
        return [*problems, f"{path} has no {MANIFEST}: not a tmf699ctk certification bundle"]
    try:
        manifest = json.loads(files[MANIFEST])
        listed: dict[str, Any] = manifest["files"]
        if manifest.get("format") != BUNDLE_FORMAT:
            return [*problems, f"{MANIFEST} is not a {BUNDLE_FORMAT} manifest"]
    except (ValueError, KeyError, TypeError) as exc:
        return [*problems, f"{MANIFEST} is unreadable: {exc}"]
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        problems.append(f"{name} is in the bundle but not in the manifest: it was added")
    for name in sorted(set(listed) - set(files)):
        problems.append(f"{name} is listed in the manifest but missing from the bundle: it was removed")
    for name in sorted(set(listed) & set(files)):
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != listed[name].get("sha256"):
            problems.append(f"{name} was edited: its SHA-256 is {actual}, "
                            f"the manifest says {listed[name].get('sha256')}")
    kit = manifest.get("kit", {}).get("version")
    if kit != __version__:
        return [*problems, f"the bundle was built by tmf699ctk {kit}; checking its documents needs that version "
                           f"(this is {__version__})"]
    if "results.json" not in files:
        return problems
    try:
        run = RunResult.from_dict(json.loads(files["results.json"]))
    except (ValueError, KeyError, TypeError) as exc:
        return [*problems, f"results.json is not a tmf699ctk results file: {exc}"]
    facts = submission_facts(run)
    expected_root = bundle_name(facts).removesuffix(".zip")
    if root and root != expected_root:
        problems.append(f"the bundle's folder is {root}, but results.json names it {expected_root}")
    problems += _verify_report(files, facts.report_file)
    problems += _verify_documents(files, manifest, run, facts)
    return problems


def _verify_report(files: dict[str, bytes], report_file: str) -> list[str]:
    if report_file not in files:
        return [f"the HTML report {report_file} (the name results.json gives it) is not in the bundle"]
    with tempfile.TemporaryDirectory(prefix="ctk-verify-") as folder:
        html, results = Path(folder) / report_file, Path(folder) / "results.json"
        html.write_bytes(files[report_file])
        results.write_bytes(files["results.json"])
        return [p.replace(str(Path(folder)) + "/", "") for p in verify_report(html, results)]


def _verify_documents(files: dict[str, bytes], manifest: dict[str, Any], run: RunResult,
                      facts: SubmissionFacts) -> list[str]:
    problems: list[str] = []
    documents: dict[str, str] = manifest.get("documents") or {}
    if not documents:
        return ["the manifest lists no certification document"]
    diagram_info = manifest.get("diagram") or {}
    try:
        diagram = parse_diagram(str(diagram_info.get("source", "diagram")),
                                files.get(str(diagram_info.get("file")), b""))
        inputs = SubmissionInputs(str(manifest.get("product_description", "")), diagram)
    except ValueError as exc:
        return [f"the architecture diagram {diagram_info.get('file')} is missing or unreadable: {exc}"]
    if diagram_info.get("file") != diagram_name(facts, inputs):
        problems.append(f"the diagram is named {diagram_info.get('file')}, results.json names it "
                        f"{diagram_name(facts, inputs)}")
    expected = claims(facts)
    outline = [TITLE, *SECTIONS]
    digest = hashlib.sha256(files["results.json"]).hexdigest()
    for fmt, name in sorted(documents.items()):
        if fmt not in FORMATS or name != document_name(facts, fmt):
            problems.append(f"the manifest lists {name} as its {fmt} document; results.json names it "
                            f"{document_name(facts, fmt) if fmt in FORMATS else '(no such format)'}")
            continue
        if name not in files:
            continue  # already reported as removed
        if fmt == "docx":
            try:
                content = read_docx(files[name])
            except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
                problems.append(f"{name} is not a readable Word document: {exc}")
                continue
            problems += _compare(name, content["claims"], expected)
            headings = [text for style, text in content["headings"] if style in ("Title", "Heading1")]
            if headings != outline:
                problems.append(f"{name} has the sections {headings}, expected {outline}")
            if diagram.sha256 not in content["media"]:
                problems.append(f"{name} does not embed the bundle's architecture diagram")
            continue
        text = files[name].decode("utf-8", errors="replace")
        found, headings = html_claims(text) if fmt == "html" else markdown_claims(text)
        problems += _compare(name, found, expected)
        if headings != outline:
            problems.append(f"{name} has the sections {headings}, expected {outline}")
        render = render_document_html if fmt == "html" else render_document_markdown
        if render(facts, inputs, digest).encode("utf-8") != files[name]:
            problems.append(f"{name} differs from the document rendered from results.json and the manifest: "
                            "it was edited")
    return problems

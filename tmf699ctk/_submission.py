"""The certification document: TM Forum's conformance form, filled in from a run and the vendor's inputs.

Every fact about the run is read through ``submission_facts`` (one adapter over the results model),
so names, versions, the date and the verdict are never retyped and cannot drift from results.json.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from ._resources import package_file
from ._results import RunResult
from ._submission_config import SubmissionInputs
from ._submission_names import company_short, deliverable_name
from ._view import PARTIAL_BANNER, report_filename
from ._view import partial_reasons as _partial_reasons

TITLE = "TM Forum Open APIs Conformance Certification"
LABELS = {
    "company": "Company Name",
    "product": "Product Name and Release Version",
    "api": "TM Forum Open API Name and Release Version",
    "date": "Date",
}
SECTIONS = (
    "1. What Product or Solution does your API support?",
    "2. Overview of Certified API",
    "3. Architectural View",
    "4. Test Results",
)
LINK_TEXT = "Click here to view the test results:"
NOT_VALID = "For internal review only: this run is not valid for certification."
FORMATS = ("html", "docx", "md")
EN_DASH = "\u2013"


@dataclass(frozen=True)
class Counts:
    checks: int
    passed: int
    failed: int  # failures that block (mandatory and offered optional checks)
    errors: int
    skipped: int
    not_supported: int
    warnings: int  # recommended checks that failed
    blocking: int
    requests: int
    scenarios: int


@dataclass(frozen=True)
class SubmissionFacts:
    """Everything the document says about the run, read from a RunResult in one place."""

    company: str
    company_short: str
    product: str
    release: str
    contact: str
    api_id: str
    api_name: str
    api_version: str
    date: str  # of the run, YYYY-MM-DD (UTC)
    started_at: str
    ended_at: str
    verdict: str
    counts: Counts
    complete: bool
    partial_reasons: tuple[str, ...]
    profile: str
    tool_version: str
    report_file: str
    problem: str  # unreachable target or aborted run, else ""

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS" and self.complete

    @property
    def product_release(self) -> str:
        return f"{self.product} {self.release}".strip()

    @property
    def api_title(self) -> str:
        return f"{self.api_id} {EN_DASH} {self.api_name} V{self.api_version}"  # as TM Forum writes it

    @property
    def verdict_detail(self) -> str:
        """The words under the verdict on the report's cover."""
        w = self.counts.warnings
        return f"{self.counts.blocking} blocking · {w} warning{'' if w == 1 else 's'}"

    @property
    def scope(self) -> str:
        return f"complete: the whole {self.profile} profile ran" if self.complete else PARTIAL_BANNER

    def name(self, suffix: str) -> str:
        return deliverable_name({"company_short": self.company_short}, self.api_version, suffix)


def submission_facts(run: RunResult) -> SubmissionFacts:
    """The adapter: the only function that reads a RunResult for the submission."""
    s = run.summary  # recomputed from the checks when results.json was read, never trusted
    outcomes = s["outcomes"]
    counts = Counts(
        checks=s["checks"]["total"], passed=outcomes["passed"], failed=outcomes["failed"],
        errors=outcomes["error"], skipped=outcomes["skipped"], not_supported=outcomes["not supported"],
        warnings=outcomes["warning"], blocking=s["blocking"], requests=s["requests"]["total"],
        scenarios=s["scenarios"]["total"],
    )
    reasons = _partial_reasons(run)
    complete = run.complete and not reasons
    spec_name = str(run.spec.get("name", "TMF699 Sales Management"))
    api_id, _, api_name = spec_name.partition(" ")
    meta = run.metadata
    return SubmissionFacts(
        company=(meta.get("company") or "").strip(), company_short=company_short(meta),
        product=(meta.get("product") or "").strip(), release=(meta.get("release") or "").strip(),
        contact=(meta.get("contact") or "").strip(), api_id=api_id, api_name=api_name or spec_name,
        api_version=str(run.spec.get("version", "")), date=run.started_at[:10], started_at=run.started_at,
        ended_at=run.ended_at, verdict=run.verdict, counts=counts, complete=complete,
        partial_reasons=tuple(reasons), profile=run.profile, tool_version=str(run.tool.get("version", "")),
        report_file=report_filename(run), problem=run.unreachable or (run.abort_reason if run.aborted else "") or "",
    )


def document_name(facts: SubmissionFacts, fmt: str) -> str:
    return facts.name(f"Conformance.{fmt}")


def diagram_name(facts: SubmissionFacts, inputs: SubmissionInputs) -> str:
    return facts.name(f"Architecture.{inputs.diagram.extension}")


def bundle_name(facts: SubmissionFacts) -> str:
    return facts.name("certification.zip")


def claims(facts: SubmissionFacts) -> dict[str, str]:
    """What every format of the document must say about the run (``verify`` reads them back)."""
    return {"company": facts.company, "product": facts.product_release, "api": facts.api_title,
            "date": facts.date, "verdict": facts.verdict, "scope": "complete" if facts.complete else PARTIAL_BANNER,
            "report": facts.report_file}


@cache
def api_overview(version: str) -> tuple[str, str]:
    """(title, Markdown description) of the tested API version, as its specification states them."""
    data = json.loads(package_file("templates/submission-apis.json").read_text(encoding="utf-8"))
    if version not in data:
        known = ", ".join(k for k in data if not k.startswith("_"))
        raise ValueError(f"no TMF699 v{version} description is bundled (known versions: {known})")
    return data[version]["title"], data[version]["description"]


# -- Markdown ----------------------------------------------------------------------------------

HEADING_SHIFT = 2  # the document's sections are level 2: a vendor's "# Title" becomes level 3


@cache
def _markdown() -> MarkdownIt:
    # raw HTML is shown as text and images are not fetched: the document makes no request
    md = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")

    def link_open(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "noopener noreferrer")
        return str(self.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


def markdown_tokens(text: str) -> list[Token]:
    """Parsed Markdown with headings moved below the document's own section headings."""
    tokens = _markdown().parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + HEADING_SHIFT)}"
    return tokens


def markdown_html(text: str) -> Markup:
    md = _markdown()
    return Markup(md.renderer.render(markdown_tokens(text), md.options, {}))


def markdown_outline(text: str) -> list[str]:
    """The level 1 and 2 headings of a Markdown text (a "# line" in a code block is none)."""
    tokens = _markdown().parse(text)
    return [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag in ("h1", "h2")]


def demoted_markdown(text: str) -> str:
    """The vendor's Markdown with its top-level headings moved down ``HEADING_SHIFT`` levels (for the .md)."""
    lines = text.splitlines()
    tokens = _markdown().parse(text)
    for index in reversed(range(len(tokens))):
        token = tokens[index]
        if token.type != "heading_open" or token.map is None or token.level != 0:
            continue  # a heading inside a list or quote keeps its place (and its level)
        start, end = token.map
        level = min(6, int(token.tag[1]) + HEADING_SHIFT)
        lines[start:end] = ["#" * level + " " + tokens[index + 1].content]
    return "\n".join(lines).strip() + "\n"


# -- HTML --------------------------------------------------------------------------------------

@cache
def _template() -> tuple[Template, str]:
    folder = package_file("templates")
    env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("submission.html.j2"), (folder / "submission.css").read_text(encoding="utf-8")


def render_document_html(facts: SubmissionFacts, inputs: SubmissionInputs, digest: str) -> str:
    """The self-contained HTML document (inline CSS, the diagram as a data: URL, no script)."""
    template, css = _template()
    api_title, api_description = api_overview(facts.api_version)
    diagram = inputs.diagram
    return template.render(
        f=facts, digest=digest, css=css, title=TITLE, labels=LABELS, sections=SECTIONS, link_text=LINK_TEXT,
        not_valid=NOT_VALID, claims=claims(facts), spec_title=api_title, rows=result_rows(facts, digest),
        product_html=markdown_html(inputs.product_description), api_html=markdown_html(api_description),
        diagram_src=f"data:{diagram.media_type};base64,{base64.b64encode(diagram.data).decode()}",
        diagram_alt=f"Architecture of {facts.product_release}",
    )


# -- Markdown document -------------------------------------------------------------------------

def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def result_rows(facts: SubmissionFacts, digest: str) -> list[tuple[str, str]]:
    """Section 4's table, the same rows in every format."""
    c = facts.counts
    rows = [
        ("Verdict", f"{facts.verdict} ({facts.verdict_detail})"),
        ("Suite scope", facts.scope + ("" if facts.complete else ": " + "; ".join(facts.partial_reasons))),
        ("Profile", facts.profile),
        ("Scenarios", str(c.scenarios)),
        ("Checks", f"{c.checks}: {c.passed} passed, {c.failed} failed, {c.errors} errors, {c.warnings} warnings, "
                   f"{c.skipped} skipped ({c.not_supported} not supported)"),
        ("Requests", str(c.requests)),
        ("Run (UTC)", f"{facts.started_at} to {facts.ended_at}"),
        ("Test kit", f"tmf699ctk {facts.tool_version}"),
        ("results.json SHA-256", digest),
    ]
    if facts.problem:
        rows.insert(1, ("Problem", facts.problem))
    return rows


def render_document_markdown(facts: SubmissionFacts, inputs: SubmissionInputs, digest: str) -> str:
    api_title, api_description = api_overview(facts.api_version)
    values = {"company": facts.company, "product": facts.product_release, "api": facts.api_title, "date": facts.date}
    lines = [f"# {TITLE}", "", "| | |", "| --- | --- |"]
    lines += [f"| **{LABELS[key]}** | {_cell(value)} |" for key, value in values.items()]
    lines += ["", f"**Conformance result: {facts.verdict}** ({facts.verdict_detail})", ""]
    if facts.complete:
        lines += [f"Suite scope: complete (the whole {facts.profile} profile ran)", ""]
    else:
        lines += [f"> **{PARTIAL_BANNER}**: {_cell('; '.join(facts.partial_reasons))}", ""]
    if not facts.passed:
        lines += [f"> **{NOT_VALID}**", ""]
    lines += [f"## {SECTIONS[0]}", "", demoted_markdown(inputs.product_description)]
    lines += [f"## {SECTIONS[1]}", "", f"**{facts.api_title}** ({api_title})", "", demoted_markdown(api_description)]
    lines += [f"## {SECTIONS[2]}", "", f"![Architecture of {_cell(facts.product_release)}]"
              f"({diagram_name(facts, inputs)})", ""]
    lines += [f"## {SECTIONS[3]}", "", f"{LINK_TEXT} [{facts.report_file}]({facts.report_file})", "",
              "| | |", "| --- | --- |"]
    lines += [f"| {label} | {_cell(value)} |" for label, value in result_rows(facts, digest)]
    return "\n".join(lines) + "\n"

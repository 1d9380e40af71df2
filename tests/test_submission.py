"""The certification document: names, facts taken from the run, vendor inputs, HTML and Markdown."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest
import yaml

from tmf699ctk._config import template_text
from tmf699ctk._exceptions import ConfigError
from tmf699ctk._results import RunResult
from tmf699ctk._settings import build_settings
from tmf699ctk._submission import (
    NOT_VALID,
    PARTIAL_BANNER,
    SECTIONS,
    TITLE,
    api_overview,
    demoted_markdown,
    render_document_html,
    render_document_markdown,
    submission_facts,
)
from tmf699ctk._submission_config import (
    SubmissionInputs,
    fill_template,
    init_answers,
    load_submission_inputs,
    parse_diagram,
)
from tmf699ctk._submission_names import short_name
from tmf699ctk._view import report_filename

from .conftest import run_suite
from .reportdata import HOSTILE, sample_run

ROOT = Path(__file__).resolve().parents[1]
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="480" height="240" viewBox="0 0 480 240">'
       '<rect x="8" y="8" width="464" height="224" fill="#dbeafe" stroke="#1e3a8a"/>'
       '<text x="240" y="128" text-anchor="middle" font-size="24">ACME Sales Hub</text></svg>\n')
# a real 1x1 baseline JPEG (SOF0), small enough to keep inline
JPEG = base64.b64decode("/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP////////////////////////////////////////////////////////"
                        "//////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=")
DESCRIPTION = ("# ACME Sales Hub\n\nACME Sales Hub captures **sales leads** from every channel.\n\n"
               "- web and shops\n- partner portals\n\n```sh\n# not a heading\n```\n")


def png(width: int = 120, height: int = 60) -> bytes:
    raw = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_config(folder: Path, *, company: str = "ACME Telco", diagram: bytes | str = SVG,
                 diagram_name: str = "arch.svg", extra: str = "") -> Path:
    """A config with every submission field, the description and diagram files beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "product.md").write_text(DESCRIPTION, encoding="utf-8")
    data = diagram.encode() if isinstance(diagram, str) else diagram
    (folder / diagram_name).write_bytes(data)
    path = folder / "ctk.yaml"
    path.write_text(f"report:\n  company: {json.dumps(company)}\n  product: ACME Sales Hub\n  release: '4.2'\n"
                    f"submission:\n  product_description_file: product.md\n  architecture_diagram: {diagram_name}\n"
                    + extra, encoding="utf-8")
    return path


def inputs_for(diagram: bytes | str = SVG, name: str = "arch.svg") -> SubmissionInputs:
    data = diagram.encode() if isinstance(diagram, str) else diagram
    return SubmissionInputs(DESCRIPTION, parse_diagram(name, data))


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory) -> tuple[RunResult, Path]:
    folder = tmp_path_factory.mktemp("pass")
    config = write_config(folder / "cfg")
    result = run_suite(folder, embedded=True, config_path=config)
    return result, config


# -- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("company", "short"), [
    ("Télécom Ä", "TELECOMA"),
    ("China Telecom", "CHINATELECOM"),
    ("Øresund Straße AG", "ORESUNDSTRASSEAG"),
    ("Łódź Łączność", "LODZLACZNOSC"),
    ("\uff21\uff23\uff2d\uff25 \uff12", "ACME2"),  # fullwidth letters and digit
    ("中国电信", ""),
    ("../../etc/passwd", "ETCPASSWD"),
])
def test_short_names_transliterate_instead_of_dropping_letters(company: str, short: str) -> None:
    assert short_name(company) == short


def test_report_and_bundle_names_share_the_short_name() -> None:
    run = sample_run()
    run.metadata["company"] = "Télécom Ä"
    assert report_filename(run) == "TELECOMA-TMF699-v4.0.0-HTMLReport.html"
    facts = submission_facts(run)
    assert facts.report_file == report_filename(run)
    assert facts.name("certification.zip") == "TELECOMA-TMF699-v4.0.0-certification.zip"
    run.metadata["company_short"] = "CHINATELECOM"
    assert report_filename(run) == "CHINATELECOM-TMF699-v4.0.0-HTMLReport.html"
    run.metadata["company_short"] = "../x"  # a hand-edited results.json never names a path
    assert report_filename(run) == "X-TMF699-v4.0.0-HTMLReport.html"


def test_company_short_is_a_config_key_with_a_strict_pattern(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("report:\n  company: China Telecom\n  company_short: CHINATELECOM\n")
    assert build_settings({}, env={}, config_path=path).report["company_short"] == "CHINATELECOM"
    path.write_text("report:\n  company: x\n  company_short: China-Telecom\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: report.company_short: 'China-Telecom' does not match"):
        build_settings({}, env={}, config_path=path)


# -- facts from the run --------------------------------------------------------------------------

def test_facts_come_from_the_run(passing_run) -> None:
    run, _ = passing_run
    facts = submission_facts(run)
    assert (facts.company, facts.product, facts.release) == ("ACME Telco", "ACME Sales Hub", "4.2")
    assert facts.api_title == "TMF699 \u2013 Sales Management V4.0.0"
    assert facts.date == run.started_at[:10] and facts.verdict == "PASS" and facts.complete
    assert facts.counts.checks == run.summary["checks"]["total"] > 0
    assert facts.report_file == "ACMETELCO-TMF699-v4.0.0-HTMLReport.html"


def test_a_selection_of_scenarios_is_a_partial_run(tmp_path: Path) -> None:
    run = run_suite(tmp_path, embedded=True, only=["OFFICIAL-N1"], profile="official")
    facts = submission_facts(run)
    assert run.verdict == "PASS" and not facts.complete and not facts.passed
    assert facts.partial_reasons and "1 of the 3 scenarios of the official profile" in facts.partial_reasons[0]


def test_a_scope_record_in_the_results_wins() -> None:
    run = sample_run()
    run.scope = {"complete": False, "partial_reasons": ["--insecure"]}  # type: ignore[attr-defined]
    facts = submission_facts(run)
    assert not facts.complete and facts.partial_reasons == ("--insecure",)


@pytest.mark.parametrize("version", ["4.0.0", "5.0.0"])
def test_the_bundled_api_overview_is_the_specs_info(version: str) -> None:
    spec = ROOT / "specs" / ("TMF699-Sales-v4.0.0.swagger.json" if version == "4.0.0"
                             else "TMF699-Sales-v5.0.0.oas.yaml")
    if not spec.is_file():
        pytest.skip(f"{spec.name} is not in specs/ yet")
    info = yaml.safe_load(spec.read_text(encoding="utf-8"))["info"]  # YAML reads JSON too
    assert api_overview(version) == (info["title"], info["description"])


def test_an_unknown_api_version_is_named() -> None:
    with pytest.raises(ValueError, match=r"no TMF699 v9.9.9 description is bundled \(known versions: 4.0.0, 5.0.0\)"):
        api_overview("9.9.9")


# -- vendor inputs -------------------------------------------------------------------------------

def test_missing_required_fields_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("report:\n  company: ACME\n")
    with pytest.raises(ConfigError) as caught:
        load_submission_inputs(path, {"company": "ACME"})
    message = str(caught.value)
    for field in ("report.product", "report.release", "submission.product_description",
                  "submission.architecture_diagram"):
        assert field in message
    assert "report.company," not in message and "tmf699ctk init" in message


def test_a_company_in_another_script_needs_a_short_name(tmp_path: Path) -> None:
    path = write_config(tmp_path, company="中国电信")
    with pytest.raises(ConfigError, match=r"report\.company_short"):
        load_submission_inputs(path, {"company": "中国电信", "product": "p", "release": "1"})
    inputs = load_submission_inputs(path, {"company": "中国电信", "company_short": "CHINATELECOM", "product": "p",
                                           "release": "1"})
    assert inputs.diagram.kind == "svg" and (inputs.diagram.width, inputs.diagram.height) == (480, 240)


def test_inline_description_or_file_not_both(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra="  product_description: inline text\n")
    with pytest.raises(ConfigError, match=r"ctk.yaml:\d+: submission: give product_description or "
                                          "product_description_file, not both"):
        load_submission_inputs(path, {"company": "A", "product": "p", "release": "1"})


@pytest.mark.parametrize(("svg", "problem"), [
    ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script> element"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rect onclick="x()"/></svg>', "event handler"),
    ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
     '<image x:href="https://cdn.example.com/a.png"/></svg>', "links to 'https://cdn.example.com/a.png'"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><style>rect { fill: url(https://x.example/f) }</style></svg>',
     "style loads"),
    ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
     '<svg xmlns="http://www.w3.org/2000/svg">&e;</svg>', "DOCTYPE"),
    ("<html><body>not svg</body></html>", "not a PNG, JPEG or SVG"),
])
def test_a_diagram_that_could_run_script_or_fetch_is_refused_with_its_line(tmp_path: Path, svg: str,
                                                                             problem: str) -> None:
    path = write_config(tmp_path, diagram=svg)
    with pytest.raises(ConfigError, match=r"ctk.yaml:7: submission.architecture_diagram: .*") as caught:
        load_submission_inputs(path, {"company": "A", "product": "p", "release": "1"})
    assert problem in str(caught.value)


def test_png_and_jpeg_are_recognised_by_content_and_measured() -> None:
    assert (lambda d: (d.kind, d.width, d.height, d.extension))(parse_diagram("a.svg", png(300, 100))) == (
        "png", 300, 100, "png")
    assert (lambda d: (d.kind, d.width, d.height, d.extension))(parse_diagram("a.png", JPEG)) == (
        "jpeg", 1, 1, "jpg")


def test_a_missing_diagram_file_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "arch.svg").unlink()
    with pytest.raises(ConfigError, match=r"ctk.yaml:7: submission.architecture_diagram: cannot read .*arch.svg: "
                                          "No such file"):
        load_submission_inputs(path, {"company": "A", "product": "p", "release": "1"})


# -- rendering -----------------------------------------------------------------------------------

def test_the_html_document_has_the_forms_structure_and_no_script(passing_run) -> None:
    run, config = passing_run
    facts = submission_facts(run)
    html = render_document_html(facts, load_submission_inputs(config, run.metadata), "d1g3st")
    positions = [html.index(text) for text in (TITLE, "Company Name", "Product Name and Release Version",
                                               "TM Forum Open API Name and Release Version", *SECTIONS)]
    assert positions == sorted(positions)
    assert "<script" not in html and "default-src 'none'" in html and "img-src data:" in html
    assert 'src="data:image/svg+xml;base64,' in html
    assert f'href="{facts.report_file}"' in html and "d1g3st" in html
    assert "This API provides interfaces for Sales Lead" in html  # section 2 from the v4 spec
    assert "<h3>ACME Sales Hub</h3>" in html  # the vendor's "# heading" sits under section 1
    assert NOT_VALID not in html and PARTIAL_BANNER not in html


def test_vendor_markdown_cannot_inject_html_or_fetch_images() -> None:
    run = sample_run()
    run.metadata.update(product="Hub", company="ACME")
    hostile = f"{HOSTILE}\n\n![tracker](https://tracker.example/p.png)\n\n[x](javascript:alert(1))\n"
    html = render_document_html(submission_facts(run), SubmissionInputs(hostile, parse_diagram("a.svg", SVG.encode())),
                                "d")
    assert "<script>window.__pwned" not in html and "&lt;script&gt;" in html
    assert 'src="https://tracker.example' not in html and 'href="javascript:' not in html


def test_a_failing_run_says_so_on_the_first_page_in_the_reports_words() -> None:
    run = sample_run()
    run.metadata["product"] = "Hub"
    facts = submission_facts(run)
    assert facts.verdict == "FAIL"
    inputs = inputs_for()
    html = render_document_html(facts, inputs, "d")
    header = html[:html.index(SECTIONS[0])]
    assert f">{facts.verdict}<" in header and facts.verdict_detail in header and NOT_VALID in header
    assert facts.verdict_detail == f"{run.summary['blocking']} blocking · 1 warning"
    markdown = render_document_markdown(facts, inputs, "d")
    assert "**Conformance result: FAIL** (2 blocking · 1 warning)" in markdown and NOT_VALID in markdown


def test_a_partial_run_carries_the_partial_banner() -> None:
    run = sample_run()
    run.verdict = "PASS"
    run.scope = {"complete": False, "partial_reasons": ["ran 2 of 12 scenarios"]}  # type: ignore[attr-defined]
    facts = submission_facts(run)
    html = render_document_html(facts, inputs_for(), "d")
    header = html[:html.index(SECTIONS[0])]
    assert PARTIAL_BANNER in header and "ran 2 of 12 scenarios" in header and NOT_VALID in header
    assert f"> **{PARTIAL_BANNER}**: ran 2 of 12 scenarios" in render_document_markdown(facts, inputs_for(), "d")


def test_the_markdown_document_links_the_diagram_and_the_report(passing_run) -> None:
    run, config = passing_run
    facts = submission_facts(run)
    text = render_document_markdown(facts, load_submission_inputs(config, run.metadata), "d")
    assert text.startswith(f"# {TITLE}\n")
    assert "| **Company Name** | ACME Telco |" in text and "| **Date** | " + facts.date + " |" in text
    assert "![Architecture of ACME Sales Hub 4.2](ACMETELCO-TMF699-v4.0.0-Architecture.svg)" in text
    assert f"[{facts.report_file}]({facts.report_file})" in text
    assert [line for line in text.splitlines() if line.startswith("## ")] == [f"## {s}" for s in SECTIONS]


def test_vendor_headings_move_below_the_sections_but_code_stays() -> None:
    text = "# Top\n\nSetext\n======\n\n```\n# shell comment\n```\n\n## Sub\n"
    assert demoted_markdown(text) == "### Top\n\n### Setext\n\n```\n# shell comment\n```\n\n#### Sub\n"


# -- init ----------------------------------------------------------------------------------------

def test_init_answers_fill_the_template_and_keep_its_comments(tmp_path: Path, schemas) -> None:
    replies = iter(["Télécom Ä", "", 'Sales "Hub": 2', "4.2", "", "product.md", "arch.svg"])
    asked: list[tuple[str, str]] = []

    def ask(question: str, default: str) -> str:
        asked.append((question, default))
        return next(replies) or default

    text = fill_template(template_text(), init_answers(ask))
    assert asked[1][1] == "TELECOMA"  # the short name offered is the transliteration
    data = yaml.safe_load(text)
    assert data["report"] == {"company": "Télécom Ä", "company_short": "TELECOMA", "product": 'Sales "Hub": 2',
                              "release": "4.2", "contact": None}
    assert data["submission"]["product_description_file"] == "product.md"
    assert "# Section 3, \"Architectural View\"" in text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert build_settings({}, env={}, config_path=path).report["product"] == 'Sales "Hub": 2'


def test_the_readme_example_config_is_complete(schemas) -> None:
    config = ROOT / "docs" / "submission-example" / "tmf699ctk.yaml"
    report = build_settings({}, env={}, config_path=config).report
    inputs = load_submission_inputs(config, report)
    assert inputs.diagram.kind == "svg" and "TMF699 Sales Management API" in inputs.product_description

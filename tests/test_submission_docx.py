"""The Word document, opened and read back with python-docx itself."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE

from tmf699ctk._results import RunResult
from tmf699ctk._submission import NOT_VALID, PARTIAL_BANNER, SECTIONS, TITLE, submission_facts
from tmf699ctk._submission_config import SubmissionInputs
from tmf699ctk._submission_docx import read_docx, render_document_docx

from .conftest import run_suite
from .reportdata import sample_run
from .test_submission import DESCRIPTION, JPEG, SVG, inputs_for, png, write_config

A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
SVG_BLIP = "{http://schemas.microsoft.com/office/drawing/2016/SVG/main}svgBlip"
R_EMBED = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunResult:
    folder = tmp_path_factory.mktemp("docx")
    return run_suite(folder, embedded=True, config_path=write_config(folder / "cfg"), profile="official")


def open_docx(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def blips(document: docx.document.Document) -> list:
    return list(document.element.body.iter(f"{A}blip"))


def test_headings_and_the_first_table_read_back(run: RunResult) -> None:
    facts = submission_facts(run)
    document = open_docx(render_document_docx(facts, inputs_for(), "d1g3st", "arch.svg"))
    outline = [(p.style.name, p.text) for p in document.paragraphs if p.style.name in ("Title", "Heading 1")]
    assert outline == [("Title", TITLE)] + [("Heading 1", s) for s in SECTIONS]
    assert [[c.text for c in row.cells] for row in document.tables[0].rows] == [
        ["Company Name", "ACME Telco"], ["Product Name and Release Version", "ACME Sales Hub 4.2"],
        ["TM Forum Open API Name and Release Version", "TMF699 \u2013 Sales Management V4.0.0"],
        ["Date", run.started_at[:10]]]
    verdict, detail = document.tables[1].rows[0].cells
    assert verdict.text == "PASS" and detail.paragraphs[0].text == facts.verdict_detail
    results = {row.cells[0].text: row.cells[1].text for row in document.tables[-1].rows}
    assert results["results.json SHA-256"] == "d1g3st" and results["Verdict"].startswith("PASS (0 blocking")
    props = document.core_properties
    assert (props.title, props.author, props.subject) == (TITLE, "ACME Telco", facts.api_title)


def test_the_report_link_is_a_relative_hyperlink(run: RunResult) -> None:
    facts = submission_facts(run)
    document = open_docx(render_document_docx(facts, inputs_for(), "d", "arch.svg"))
    targets = [rel.target_ref for rel in document.part.rels.values() if rel.reltype == RELATIONSHIP_TYPE.HYPERLINK]
    assert facts.report_file in targets
    link = next(p for p in document.paragraphs if p.text.startswith("Click here to view the test results:"))
    assert link.text.endswith(facts.report_file)


def test_vendor_markdown_becomes_word_structure(run: RunResult) -> None:
    document = open_docx(render_document_docx(submission_facts(run), inputs_for(), "d", "arch.svg"))
    texts = [p.text for p in document.paragraphs]
    assert ("Heading 2", "ACME Sales Hub") in [(p.style.name, p.text) for p in document.paragraphs]
    assert "•\tweb and shops" in texts and "# not a heading" in texts
    bold = [r.text for p in document.paragraphs for r in p.runs if r.bold]
    assert "sales leads" in bold


@pytest.mark.parametrize(("data", "name"), [(png(300, 100), "arch.png"), (JPEG, "arch.jpg")])
def test_png_and_jpeg_diagrams_are_embedded_as_given(run: RunResult, data: bytes, name: str) -> None:
    document = open_docx(render_document_docx(submission_facts(run), inputs_for(data, name), "d", name))
    [blip] = blips(document)
    assert document.part.related_parts[blip.get(R_EMBED)].blob == data
    shape = document.inline_shapes[0]
    assert shape.width > 0 and shape.height > 0


def test_an_svg_diagram_is_embedded_as_svg_with_a_png_stand_in(run: RunResult) -> None:
    document = open_docx(render_document_docx(submission_facts(run), inputs_for(SVG, "a.svg"), "d", "a.svg"))
    [blip] = blips(document)
    assert document.part.related_parts[blip.get(R_EMBED)].blob.startswith(b"\x89PNG")
    [svg] = list(blip.iter(SVG_BLIP))
    assert document.part.related_parts[svg.get(R_EMBED)].blob == SVG.encode()
    width, height = document.inline_shapes[0].width, document.inline_shapes[0].height
    assert round(width / height, 2) == 2.0  # the SVG's 480x240 proportions


def test_a_failing_partial_run_says_so_in_the_result_box() -> None:
    run = sample_run()
    run.metadata["product"] = "Hub"
    facts = submission_facts(run)
    document = open_docx(render_document_docx(facts, SubmissionInputs(DESCRIPTION, inputs_for().diagram), "d", "a"))
    verdict, detail = document.tables[1].rows[0].cells
    lines = [p.text for p in detail.paragraphs]
    assert verdict.text == "FAIL" and lines[0] == facts.verdict_detail
    assert PARTIAL_BANNER in lines and NOT_VALID in lines


def test_the_stdlib_reader_agrees_with_python_docx(run: RunResult) -> None:
    facts = submission_facts(run)
    content = read_docx(render_document_docx(facts, inputs_for(), "d", "arch.svg"))
    assert content["claims"] == {"company": "ACME Telco", "product": "ACME Sales Hub 4.2", "api": facts.api_title,
                                 "date": facts.date, "verdict": "PASS", "scope": "complete",
                                 "report": facts.report_file}


def test_without_python_docx_docx_is_a_clear_exit_2_and_the_default_skips_it(run: RunResult, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "docx.py").write_text("raise ImportError('python-docx is not installed (simulated)')\n")
    config = write_config(tmp_path / "cfg")
    results = tmp_path / "results.json"
    run.write(results)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(shadow)}

    def ctk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tmf699ctk", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    asked = ctk("submission", str(results), "-c", str(config), "--format", "docx", "-o", str(tmp_path / "a"))
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert "error: --format docx: DOCX needs the docx extra: pip install 'tmf699ctk[docx]'" in asked.stderr
    default = ctk("submission", str(results), "-c", str(config), "-o", str(tmp_path / "b"))
    assert default.returncode == 0, default.stderr
    assert sorted(p.suffix for p in (tmp_path / "b").glob("*-Conformance.*")) == [".html", ".md"]
    assert list((tmp_path / "b").glob("*-certification.zip"))

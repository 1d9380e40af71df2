"""The certification document as a Word file (python-docx, the optional ``docx`` extra), and its reader.

Writing needs python-docx; reading a document back for ``verify`` needs only the standard library,
so a reviewer can check a bundle without the extra.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from datetime import datetime
from typing import Any

from markdown_it.token import Token

from ._exceptions import UsageError
from ._submission import (
    LABELS,
    LINK_TEXT,
    NOT_VALID,
    SECTIONS,
    TITLE,
    SubmissionFacts,
    api_overview,
    claims,
    markdown_tokens,
    result_rows,
)
from ._submission_config import SubmissionInputs
from ._view import PARTIAL_BANNER

EXTRA_HINT = "DOCX needs the docx extra: pip install 'tmf699ctk[docx]'"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_SVG_EXT = "{96DAC541-7B7A-43D3-8B79-37D633B846F1}"  # Office 2016's SVG picture extension
_SVG_NS = "http://schemas.microsoft.com/office/drawing/2016/SVG/main"
_PASS_FILL, _FAIL_FILL, _FAIL_TEXT = "1A7F37", "B3261E", (0xB3, 0x26, 0x1E)
CONTENT_WIDTH_CM, MAX_HEIGHT_CM = 17.0, 20.0
MAX_DOCX_BYTES = 256 * 1024 * 1024  # unpacked; a reviewer's machine must not be filled by a crafted file


def docx_available() -> bool:
    try:
        import docx  # noqa: F401
    except ImportError:
        return False
    return True


def render_document_docx(facts: SubmissionFacts, inputs: SubmissionInputs, digest: str, diagram_file: str) -> bytes:
    """The document as .docx bytes; the same inputs give the same bytes (fixed dates, fixed zip times)."""
    try:
        import docx
        from docx.shared import Cm
    except ImportError as exc:
        raise UsageError(EXTRA_HINT) from exc
    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2))
    section.top_margin, section.bottom_margin = Cm(1.8), Cm(1.6)
    started = _run_time(facts)
    props = document.core_properties
    props.title, props.subject, props.author = TITLE, facts.api_title, facts.company
    props.keywords, props.comments = f"{facts.api_id} v{facts.api_version} conformance", ""
    props.last_modified_by, props.revision, props.category = f"tmf699ctk {facts.tool_version}", 1, facts.verdict
    props.created = props.modified = started
    package_rels = document.part.package.rels
    for rel_id in [k for k, rel in package_rels.items() if rel.reltype.endswith("/thumbnail")]:
        del package_rels[rel_id]  # python-docx's template ships a picture of some other document

    document.add_heading(TITLE, level=0)
    values = claims(facts)
    _table(document, [(LABELS[k], values[k]) for k in ("company", "product", "api", "date")])
    _result_box(document, facts)

    document.add_heading(SECTIONS[0], level=1)
    _markdown(document, markdown_tokens(inputs.product_description))
    document.add_heading(SECTIONS[1], level=1)
    spec_title, description = api_overview(facts.api_version)
    paragraph = document.add_paragraph()
    paragraph.add_run(facts.api_title).bold = True
    paragraph.add_run(f" ({spec_title})")
    _markdown(document, markdown_tokens(description))
    document.add_heading(SECTIONS[2], level=1)
    _diagram(document, inputs, facts, diagram_file)
    document.add_heading(SECTIONS[3], level=1)
    paragraph = document.add_paragraph(LINK_TEXT + " ")
    _hyperlink(paragraph, facts.report_file, facts.report_file)
    _table(document, result_rows(facts, digest))

    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue(), started)


def _run_time(facts: SubmissionFacts) -> datetime:
    try:
        return datetime.fromisoformat(facts.started_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1980, 1, 1)


def _fixed_zip(data: bytes, when: datetime) -> bytes:
    """The same zip with every entry dated ``when``: python-docx stamps the current time."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(info))
    return out.getvalue()


def _table(document: Any, rows: list[tuple[str, str]]) -> None:
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].paragraphs[0].add_run(label).bold = True
        cells[1].paragraphs[0].add_run(value)
    document.add_paragraph()


def _shade(cell: Any, fill: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shading)


def _result_box(document: Any, facts: SubmissionFacts) -> None:
    """The verdict beside its detail, as on the report's cover; a run that cannot certify says so."""
    from docx.shared import Cm, Pt, RGBColor

    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    verdict, detail = table.rows[0].cells
    verdict.width, detail.width = Cm(3.5), Cm(13.5)
    _shade(verdict, _PASS_FILL if facts.verdict == "PASS" else _FAIL_FILL)
    run = verdict.paragraphs[0].add_run(facts.verdict)
    run.bold, run.font.size, run.font.color.rgb = True, Pt(24), RGBColor(0xFF, 0xFF, 0xFF)
    detail.paragraphs[0].add_run(facts.verdict_detail).bold = True
    if facts.complete:
        detail.add_paragraph(f"Suite scope: complete (the whole {facts.profile} profile ran)")
    else:
        run = detail.add_paragraph().add_run(PARTIAL_BANNER)
        run.bold, run.font.size, run.font.color.rgb = True, Pt(14), RGBColor(*_FAIL_TEXT)
        detail.add_paragraph("; ".join(facts.partial_reasons))
    if facts.problem:
        detail.add_paragraph(facts.problem)
    if not facts.passed:
        run = detail.add_paragraph().add_run(NOT_VALID)
        run.bold, run.font.color.rgb = True, RGBColor(*_FAIL_TEXT)
    document.add_paragraph()


def _hyperlink(paragraph: Any, target: str, text: str) -> None:
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rel = paragraph.part.relate_to(target, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel)
    run = OxmlElement("w:r")
    props = OxmlElement("w:rPr")
    color = OxmlElement("w:color")
    color.set(qn("w:val"), "0563C1")
    underline = OxmlElement("w:u")
    underline.set(qn("w:val"), "single")
    props.extend([color, underline])
    run.append(props)
    text_element = OxmlElement("w:t")
    text_element.text = text
    text_element.set(qn("xml:space"), "preserve")
    run.append(text_element)
    link.append(run)
    paragraph._p.append(link)


def _png(width: int, height: int) -> bytes:
    """A plain framed PNG: the stand-in Word shows for an SVG when it cannot draw SVG itself."""
    rows = []
    for y in range(height):
        edge = y in (0, height - 1)
        pixels = b"".join(b"\xb8\xc0\xc8" if edge or x in (0, width - 1) else b"\xff\xff\xff" for x in range(width))
        rows.append(b"\x00" + pixels)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))


def _fit(width: int, height: int) -> tuple[float, float]:
    """Display size in cm: natural size at 96 dpi, shrunk to the text width and a page's height."""
    width, height = width or 800, height or 600
    w, h = width / 96 * 2.54, height / 96 * 2.54
    scale = min(1.0, CONTENT_WIDTH_CM / w, MAX_HEIGHT_CM / h)
    return w * scale, h * scale


def _diagram(document: Any, inputs: SubmissionInputs, facts: SubmissionFacts, diagram_file: str) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm
    from lxml import etree

    diagram = inputs.diagram
    width_cm, height_cm = _fit(diagram.width, diagram.height)
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run()
    if diagram.kind != "svg":
        shape = run.add_picture(io.BytesIO(diagram.data), width=Cm(width_cm), height=Cm(height_cm))
    else:
        ratio = (diagram.height or 600) / (diagram.width or 800)
        shape = run.add_picture(io.BytesIO(_png(64, max(1, round(64 * ratio)))), width=Cm(width_cm),
                                height=Cm(height_cm))
        svg = Part(PackURI(f"/word/media/{diagram_file}"), diagram.media_type, diagram.data, document.part.package)
        rel = document.part.relate_to(svg, RELATIONSHIP_TYPE.IMAGE)
        blip = shape._inline.graphic.graphicData.pic.blipFill.blip
        extensions, extension = OxmlElement("a:extLst"), OxmlElement("a:ext")
        extension.set("uri", _SVG_EXT)
        # lxml directly: python-docx's element factory does not know Office 2016's SVG namespace
        svg_blip = etree.SubElement(extension, f"{{{_SVG_NS}}}svgBlip", nsmap={"asvg": _SVG_NS})
        svg_blip.set(qn("r:embed"), rel)
        extensions.append(extension)
        blip.append(extensions)
    shape._inline.docPr.set("descr", f"Architecture of {facts.product_release} ({diagram_file})")


def _markdown(document: Any, tokens: list[Token]) -> None:
    """Write Markdown blocks as Word paragraphs: headings, lists, quotes, code, tables, inline styles."""
    from docx.shared import Cm, Pt

    lists: list[dict[str, Any]] = []  # open lists: ordered?, next number
    quote = 0
    item_started = False
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append({"ordered": kind == "ordered_list_open", "n": int(token.attrGet("start") or 1)})
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            item_started = True
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "heading_open":
            level = max(2, min(9, int(token.tag[1]) - 1))  # the document's sections are Heading 1
            _inline(document.add_heading(level=level), tokens[index + 1])
            index += 2
        elif kind == "paragraph_open":
            inline = tokens[index + 1]
            if lists:
                paragraph = document.add_paragraph()
                current = lists[-1]
                paragraph.paragraph_format.left_indent = Cm(0.9 * len(lists))
                if item_started:
                    paragraph.paragraph_format.first_line_indent = Cm(-0.6)
                    marker = f"{current['n']}.\t" if current["ordered"] else "•\t"
                    if current["ordered"]:
                        current["n"] += 1
                    paragraph.add_run(marker)
                    item_started = False
            else:
                paragraph = document.add_paragraph(style="Quote" if quote else None)
            _inline(paragraph, inline)
            index += 2
        elif kind in ("fence", "code_block"):
            paragraph = document.add_paragraph()
            paragraph.paragraph_format.left_indent = Cm(0.5)
            run = paragraph.add_run(token.content.rstrip("\n"))
            run.font.name, run.font.size = "Consolas", Pt(9)
        elif kind == "table_open":
            index = _md_table(document, tokens, index)
        index += 1


def _md_table(document: Any, tokens: list[Token], index: int) -> int:
    rows: list[list[Token]] = []
    header_rows = 0
    while tokens[index].type != "table_close":
        token = tokens[index]
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline":
            rows[-1].append(token)
        elif token.type == "thead_close":
            header_rows = len(rows)
        index += 1
    width = max((len(r) for r in rows), default=0)
    if width:
        table = document.add_table(rows=len(rows), cols=width)
        table.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, inline in enumerate(row):
                _inline(table.cell(r, c).paragraphs[0], inline, bold=r < header_rows)
    return index


def _inline(paragraph: Any, inline: Token, bold: bool = False) -> None:
    styles = {"strong": bold, "em": False, "s": False}
    link: str | None = None
    link_text: list[str] = []
    for child in inline.children or []:
        kind = child.type
        if kind.endswith("_open") and kind[:-5] in styles:
            styles[kind[:-5]] = True
        elif kind.endswith("_close") and kind[:-6] in styles:
            styles[kind[:-6]] = bold if kind == "strong_close" else False
        elif kind == "link_open":
            link, link_text = str(child.attrGet("href") or ""), []
        elif kind == "link_close":
            _hyperlink(paragraph, link or "", "".join(link_text))
            link = None
        elif link is not None:
            link_text.append(child.content if kind != "softbreak" else " ")
        elif kind in ("text", "code_inline", "html_inline"):
            run = paragraph.add_run(child.content)
            run.bold, run.italic = styles["strong"] or None, styles["em"] or None
            if styles["s"]:
                run.font.strike = True
            if kind == "code_inline":
                run.font.name = "Consolas"
        elif kind == "softbreak":
            paragraph.add_run(" ")
        elif kind == "hardbreak":
            paragraph.add_run().add_break()


# -- reading back (stdlib only) ------------------------------------------------------------------

def _text(element: ET.Element) -> str:
    return "".join(t.text or "" for t in element.iter(f"{_W}t"))


def read_docx(data: bytes) -> dict[str, Any]:
    """What a .docx says: its claims (as ``claims()`` names them), headings, media digests and links."""
    import hashlib

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_DOCX_BYTES:
            raise ValueError(f"it unpacks to more than {MAX_DOCX_BYTES} bytes")
        body = ET.fromstring(archive.read("word/document.xml")).find(f"{_W}body")
        rels_xml = ET.fromstring(archive.read("word/_rels/document.xml.rels"))
        media = {hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist() if n.startswith("word/media/")}
    if body is None:
        raise ValueError("word/document.xml has no body")
    rels = {r.get("Id"): r.get("Target") or "" for r in rels_xml.iter(f"{_REL}Relationship")}
    found: dict[str, str] = {}
    headings: list[tuple[str, str]] = []
    tables = body.findall(f"{_W}tbl")
    labels = {v: k for k, v in LABELS.items()}
    if tables:
        for row in tables[0].iter(f"{_W}tr"):
            cells = row.findall(f"{_W}tc")
            if len(cells) == 2 and _text(cells[0]) in labels:
                found[labels[_text(cells[0])]] = _text(cells[1])
    if len(tables) > 1:
        cells = tables[1].findall(f"{_W}tr/{_W}tc")
        if len(cells) == 2:
            found["verdict"] = _text(cells[0])
            lines = [_text(p) for p in cells[1].iter(f"{_W}p")]
            if PARTIAL_BANNER in lines:
                found["scope"] = PARTIAL_BANNER
            elif any(line.startswith("Suite scope: complete") for line in lines):
                found["scope"] = "complete"
    links = []
    for paragraph in body.iter(f"{_W}p"):
        style = paragraph.find(f"{_W}pPr/{_W}pStyle")
        name = style.get(f"{_W}val", "") if style is not None else ""
        if name == "Title" or name.startswith("Heading"):
            headings.append((name, _text(paragraph)))
        for link in paragraph.iter(f"{_W}hyperlink"):
            links.append((_text(paragraph), rels.get(link.get(f"{_R}id"), "")))
    report = [target for text, target in links if text.startswith(LINK_TEXT)]
    if report:
        found["report"] = report[0]
    return {"claims": found, "headings": headings, "media": media}

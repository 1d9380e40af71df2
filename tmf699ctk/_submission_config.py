"""The vendor's part of the certification document: read from the config file, checked up front."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import _validate_file
from ._exceptions import ConfigError
from ._submission_names import short_name
from ._yaml import Location, YamlProblem, line_for, load_with_lines, read_text

MAX_DIAGRAM_BYTES = 10 * 1024 * 1024
MAX_DESCRIPTION_BYTES = 256 * 1024
SVG_NS = "{http://www.w3.org/2000/svg}"
_MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "svg": "image/svg+xml"}
_EXTENSION = {"png": "png", "jpeg": "jpg", "svg": "svg"}
# An SVG that runs script or fetches anything would break the documents' "no network" promise
# when a reviewer opens the diagram on its own; only local fragments and inline images may be named.
_SVG_LOCAL_REF = re.compile(r"^\s*(#|data:image/(png|jpeg|gif|webp);)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)", re.IGNORECASE)

# what every certification document needs, in the order a user fills it in
REQUIRED = ("report.company", "report.product", "report.release", "submission.product_description",
            "submission.architecture_diagram")


@dataclass(frozen=True)
class Diagram:
    """The architecture diagram as given: its bytes, kind and size in pixels (0 when unknown)."""

    source: str
    kind: str  # png | jpeg | svg
    data: bytes
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return _MEDIA[self.kind]

    @property
    def extension(self) -> str:
        return _EXTENSION[self.kind]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class SubmissionInputs:
    """What only the vendor can write: section 1 (Markdown) and section 3 (the diagram)."""

    product_description: str
    diagram: Diagram


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("a PNG without its IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            raise ValueError("a JPEG with a broken marker")
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        length = struct.unpack(">H", data[index + 2:index + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[index + 5:index + 9])
            return int(width), int(height)
        index += 2 + length
    raise ValueError("a JPEG without a frame header")


def _svg_length(value: str | None) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*(px)?\s*", value or "")
    return float(match.group(1)) if match else 0.0


def _svg_size(data: bytes) -> tuple[int, int]:
    text = data.decode("utf-8")
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise ValueError("an SVG with a DOCTYPE or entities (not allowed: they can pull in other files)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed SVG: {exc}") from exc
    if root.tag != f"{SVG_NS}svg":
        raise ValueError("an XML file whose root is not an SVG <svg> element")
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag in ("script", "foreignObject"):
            raise ValueError(f"an SVG with a <{tag}> element (not allowed in a certification document)")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1]
            if local.lower().startswith("on"):
                raise ValueError(f"an SVG with an event handler attribute {local!r} (not allowed)")
            if local == "href" and not _SVG_LOCAL_REF.match(value):
                raise ValueError(f"an SVG that links to {value[:80]!r} (only #fragments and inline images "
                                 "are allowed: the documents make no network request)")
        for css in [element.attrib.get("style") or "", element.text or "" if tag == "style" else ""]:
            for target in _CSS_URL.findall(css):
                if not _SVG_LOCAL_REF.match(target):
                    raise ValueError(f"an SVG whose style loads {target[:80]!r} (not allowed)")
            if "@import" in css:
                raise ValueError("an SVG whose style uses @import (not allowed)")
    width, height = _svg_length(root.get("width")), _svg_length(root.get("height"))
    box = (root.get("viewBox") or "").replace(",", " ").split()
    if (not width or not height) and len(box) == 4:
        with contextlib.suppress(ValueError):
            width, height = float(box[2]), float(box[3])
    return round(width), round(height)


def read_diagram(path: Path) -> Diagram:
    """Read and check a PNG, JPEG or SVG diagram; ValueError says what is wrong with it."""
    try:
        size = path.stat().st_size
        if size > MAX_DIAGRAM_BYTES:
            raise ValueError(f"{path} is {size} bytes; a diagram may have at most {MAX_DIAGRAM_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_diagram(path.name, data)


def parse_diagram(name: str, data: bytes) -> Diagram:
    """Recognise a diagram by its content (never its extension) and measure it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind, (width, height) = "png", _png_size(data)
    elif data.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "jpeg", _jpeg_size(data)
    else:
        head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if not (head.startswith(b"<?xml") or head.startswith(b"<svg") or head.startswith(b"<!--")):
            raise ValueError(f"{name} is not a PNG, JPEG or SVG image")
        try:
            width, height = _svg_size(data)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name} is not UTF-8 SVG text") from exc
        kind = "svg"
    return Diagram(name, kind, data, width, height)


def _read_config(path: Path) -> tuple[dict[str, Any], dict[Location, int]]:
    try:
        data, lines = load_with_lines(read_text(path))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except YamlProblem as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from exc
    data = data or {}
    _validate_file(data, lines, str(path))
    return data, lines


def load_submission_inputs(config_path: Path | None, report: Mapping[str, str | None],
                           report_source: str = "") -> SubmissionInputs:
    """The vendor's inputs, checked; ConfigError names every missing required field at once.

    ``report`` holds the company, product and release the document will carry (the run's).
    """
    data: dict[str, Any] = {}
    lines: dict[Location, int] = {}
    if config_path is not None:
        data, lines = _read_config(config_path)
    section = data.get("submission") or {}
    missing = [f"report.{key}" for key in ("company", "product", "release") if not (report.get(key) or "").strip()]
    if (report.get("company") or "").strip() and not (report.get("company_short") or short_name(report["company"])):
        missing.append("report.company_short (the company name has no ASCII letters to derive it from)")
    inline, from_file = section.get("product_description"), section.get("product_description_file")
    if inline and from_file:
        line = line_for(lines, ("submission", "product_description_file"))
        raise ConfigError(f"{config_path}:{line}: submission: give product_description or "
                          "product_description_file, not both")
    if not ((inline or "").strip() or from_file):
        missing.append("submission.product_description (or submission.product_description_file)")
    if not section.get("architecture_diagram"):
        missing.append("submission.architecture_diagram")
    if missing:
        where = f"{config_path}" if config_path else "no --config given"
        run_fields = [m for m in missing if m.startswith("report.")]
        advice = (f"; report fields are recorded by `run` ({report_source or 'results.json'}): set them in the "
                  "config and run again" if run_fields and report_source else "")
        raise ConfigError(f"{where}: the certification document needs {', '.join(missing)}{advice} "
                          "(`tmf699ctk init` writes a config with these fields)")
    folder = config_path.parent if config_path else Path(".")
    description = _read_description(folder / str(from_file), config_path, lines) if from_file else str(inline)
    diagram_path = folder / str(section["architecture_diagram"])
    try:
        diagram = read_diagram(diagram_path)
    except ValueError as exc:
        line = line_for(lines, ("submission", "architecture_diagram"))
        raise ConfigError(f"{config_path}:{line}: submission.architecture_diagram: {exc}") from exc
    return SubmissionInputs(description.strip() + "\n", diagram)


def _read_description(path: Path, config_path: Path | None, lines: dict[Location, int]) -> str:
    line = line_for(lines, ("submission", "product_description_file"))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{config_path}:{line}: submission.product_description_file: cannot read {path}: "
                          f"{exc.strerror or exc}") from exc
    if len(raw) > MAX_DESCRIPTION_BYTES:
        raise ConfigError(f"{config_path}:{line}: submission.product_description_file: {path} is larger than "
                          f"{MAX_DESCRIPTION_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}:{line}: submission.product_description_file: {path} is not UTF-8") from exc
    if not text.strip():
        raise ConfigError(f"{config_path}:{line}: submission.product_description_file: {path} is empty")
    return text


# -- init --------------------------------------------------------------------------------------

# (section, key, question, required) asked by `init`, in the order of the certification document
INIT_FIELDS = (
    ("report", "company", "Company name, as on the certificate", True),
    ("report", "company_short", "Short name for file names (uppercase letters and digits)", False),
    ("report", "product", "Product name", True),
    ("report", "release", "Product release version", True),
    ("report", "contact", "Contact (name and e-mail)", False),
    ("submission", "product_description_file",
     "Markdown file describing the product (section 1), relative to the config file", True),
    ("submission", "architecture_diagram",
     "Architecture diagram, PNG/JPEG/SVG (section 3), relative to the config file", True),
)


def fill_template(text: str, answers: Mapping[tuple[str, str], str]) -> str:
    """The config template with ``section.key: null`` lines set to the answers (comments kept)."""
    section = ""
    out = []
    for line in text.splitlines(keepends=True):
        top = re.match(r"^([A-Za-z_]+):", line)
        if top:
            section = top.group(1)
        field = re.match(r"^  ([A-Za-z_]+): null(\s*)$", line)
        if field and (section, field.group(1)) in answers and answers[(section, field.group(1))]:
            # a JSON string is a valid YAML double-quoted scalar: any answer stays one value
            line = f"  {field.group(1)}: {json.dumps(answers[(section, field.group(1))], ensure_ascii=False)}\n"
        out.append(line)
    return "".join(out)


def init_answers(ask: Callable[[str, str], str]) -> dict[tuple[str, str], str]:
    """Ask the submission questions (``ask(question, default) -> answer``); empty answers stay unset."""
    answers: dict[tuple[str, str], str] = {}
    for section, key, question, _ in INIT_FIELDS:
        default = short_name(answers.get(("report", "company"))) if key == "company_short" else ""
        answer = ask(question, default).strip()
        if key == "company_short" and answer:
            answer = short_name(answer)  # the schema allows nothing else; say what it became
        answers[(section, key)] = answer
    return answers


def missing_after_init(answers: Mapping[tuple[str, str], str]) -> list[str]:
    return [f"{section}.{key}" for section, key, _, required in INIT_FIELDS
            if required and not answers.get((section, key))]

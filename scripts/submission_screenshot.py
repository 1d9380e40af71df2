#!/usr/bin/env python3
"""Regenerate docs/img/submission.png: the first page of a real certification document (a run of the
embedded server with docs/submission-example/tmf699ctk.yaml), rendered by the project's own code and
photographed in headless chromium at A4 print width."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, find_chromium  # noqa: E402
from tmf699ctk import _pipeline  # noqa: E402
from tmf699ctk._settings import build_settings  # noqa: E402
from tmf699ctk._submission_bundle import read_run, write_submission  # noqa: E402
from tmf699ctk._submission_config import load_submission_inputs  # noqa: E402

MM = 96 / 25.4
PAGE = (round(210 * MM), round(297 * MM))  # one A4 sheet in CSS pixels


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ctk-submission-shot-"))
    config = ROOT / "docs" / "submission-example" / "tmf699ctk.yaml"
    settings = build_settings({"run.embedded": True, "output.report_dir": work / "report"}, env={},
                              config_path=config)
    finished = _pipeline.run(settings)
    results, folder = finished.outputs.results, finished.outputs.folder
    run = read_run(results)
    outcome = write_submission(run, results, load_submission_inputs(config, run.metadata), folder, ["html"])
    document = next(p for p in outcome.written if p.name.endswith("-Conformance.html"))
    chromium = find_chromium()
    if not chromium:
        raise SystemExit("chromium is needed (apt-get install chromium)")
    browser = Browser(chromium)
    try:
        browser.open_page()
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": PAGE[0], "height": PAGE[1], "deviceScaleFactor": 1, "mobile": False})
        browser.send("Emulation.setEmulatedMedia", {"media": "print"})
        browser.load(document)
        # print margins as padding: the screenshot is the sheet the PDF's first page shows
        browser.evaluate(f"document.querySelector('.page').style.padding = '{16 * MM}px {16 * MM}px'; "
                         "document.documentElement.style.overflow = 'hidden'")
        out = browser.screenshot(ROOT / "docs" / "img" / "submission.png")
    finally:
        browser.close()
    print(f"wrote {out} from {document}")


if __name__ == "__main__":
    main()

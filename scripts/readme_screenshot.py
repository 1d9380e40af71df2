#!/usr/bin/env python3
"""Regenerate docs/img/report.png: a real report (embedded server with two injected faults),
rendered by the project's own code and photographed in headless chromium."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, find_chromium  # noqa: E402
from tmf699ctk._outputs import OutputRequest, write_outputs  # noqa: E402
from tmf699ctk._pipeline import RunOptions, execute, prepare  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ctk-shot-"))
    config = work / "config.yaml"
    config.write_text("report:\n  company: ACME\n  product: ACME Sales Hub\n  release: '4.2'\n")
    options = RunOptions(embedded=True, faults=frozenset({"delete-noop", "no-location"}), config_path=config,
                         report_dir=work / "report")
    result, folder = execute(options, prepare(options))
    html = write_outputs(result, folder / "results.json", OutputRequest(step_summary=False))[0]
    chromium = find_chromium()
    if not chromium:
        raise SystemExit("chromium is needed (apt-get install chromium)")
    browser = Browser(chromium)
    try:
        browser.open_page()
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1200, "height": 1500, "deviceScaleFactor": 1, "mobile": False})
        browser.load(html)
        out = browser.screenshot(ROOT / "docs" / "img" / "report.png")
    finally:
        browser.close()
    print(f"wrote {out} from {html}")


if __name__ == "__main__":
    main()

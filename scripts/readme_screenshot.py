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
from tmf699ctk import _pipeline  # noqa: E402
from tmf699ctk._settings import build_settings  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ctk-shot-"))
    config = work / "config.yaml"
    config.write_text("report:\n  company: ACME\n  product: ACME Sales Hub\n  release: '4.2'\n")
    settings = build_settings({"run.embedded": True, "run.faults": ["delete-noop", "no-location"],
                               "output.report_dir": work / "report"}, env={}, config_path=config)
    html = _pipeline.run(settings).written.paths[0]
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

#!/usr/bin/env python3
"""Measure, in one run on this machine: kit overhead over a bare httpx loop, and report size and
browser render time for the full suite and for a run against 10,000 stored leads.

    python benchmarks/bench.py [--repeat 5] [--leads 10000]

Ratios are what to compare between machines; absolute times depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, find_chromium  # noqa: E402
from tmf699ctk import _pipeline  # noqa: E402
from tmf699ctk._outputs import write_outputs  # noqa: E402
from tmf699ctk._plan import build_plan  # noqa: E402
from tmf699ctk._schemas import SchemaStore  # noqa: E402
from tmf699ctk._settings import build_settings  # noqa: E402
from tmf699ctk._templating import _compiled  # noqa: E402
from tmf699ctk.server import ReferenceServer  # noqa: E402


def kit_run(url: str, folder: Path, notifications: str = "off", cold: bool = False) -> tuple[float, Path]:
    # notifications off by default: their quiet periods are waiting, not overhead
    settings = build_settings({"target.base_url": url, "output.report_dir": folder,
                               "notifications.mode": notifications}, env={})
    plan = build_plan(settings)
    if cold:  # as in one CLI invocation: no template compiled yet
        _compiled.cache_clear()
    started = time.perf_counter()
    finished = _pipeline.run(settings, plan=plan)
    elapsed = time.perf_counter() - started
    assert finished.result.verdict == "PASS", finished.result.summary
    return elapsed, finished.outputs.results


def bare_loop(url_map: list[tuple[str, str, list, str | None]]) -> float:
    """The same requests, sent by a plain httpx client with no checks or recording."""
    started = time.perf_counter()
    with httpx.Client() as client:
        for method, url, headers, body in url_map:
            client.request(method, url, headers=dict(headers), content=body.encode() if body else None)
    return time.perf_counter() - started


def seed(server: ReferenceServer, count: int) -> None:
    store = server.state.store
    for i in range(count):
        lead_id = f"seed-{i:05d}"
        store.leads[lead_id] = {
            "id": lead_id, "href": f"{server.url}/salesLead/{lead_id}", "name": f"Seeded lead {i}",
            "description": "bulk data for the report benchmark", "priority": "low", "status": "pending",
            "creationDate": "2026-01-01T00:00:00.000Z", "statusChangeDate": "2026-01-01T00:00:00.000Z",
        }


def render(results: Path, browser: Browser | None) -> dict[str, float]:
    from tmf699ctk._results import RunResult

    started = time.perf_counter()
    run = RunResult.read(results)
    html = write_outputs(run, results).paths[0]
    figures = {"results_mb": results.stat().st_size / 1e6, "html_kb": html.stat().st_size / 1e3,
               "render_to_html_s": time.perf_counter() - started}
    if browser:
        figures["browser_load_s"] = min(browser.load(html) for _ in range(3))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    schemas = SchemaStore.load()
    work = Path(tempfile.mkdtemp(prefix="ctk-bench-"))
    chromium = find_chromium()
    browser = Browser(chromium) if chromium else None
    if browser:
        browser.open_page()
    report: dict[str, object] = {}
    with ReferenceServer(schemas=schemas) as server:
        cold = [kit_run(server.url, work / f"c{i}", cold=True)[0] for i in range(args.repeat)]
        kit = [kit_run(server.url, work / f"k{i}")[0] for i in range(args.repeat)]
        results = work / "k0" / "results.json"
        data = json.loads(results.read_text())
        requests = [(s["exchange"]["request"]["method"], s["exchange"]["request"]["url"],
                     s["exchange"]["request"]["headers"], s["exchange"]["request"]["body"])
                    for sc in data["scenarios"] for s in sc["steps"] if s["exchange"]]
        requests += [(c["request"]["method"], c["request"]["url"], [], None)
                     for sc in data["scenarios"] for c in sc["cleanup"]]
        bare = [bare_loop(requests) for _ in range(args.repeat)]
        report["full_suite"] = {
            "requests": len(requests), "checks": data["summary"]["checks"]["total"],
            "kit_cold_median_s": round(statistics.median(cold), 3),
            "kit_warm_median_s": round(statistics.median(kit), 3),
            "bare_httpx_median_s": round(statistics.median(bare), 3),
            "overhead_ratio_cold": round(statistics.median(cold) / statistics.median(bare), 2),
            "overhead_ratio_warm": round(statistics.median(kit) / statistics.median(bare), 2),
            **{k: round(v, 3) for k, v in render(results, browser).items()},
        }
    with ReferenceServer(schemas=schemas) as server:
        elapsed, results = kit_run(server.url, work / "events", notifications="optional")
        data = json.loads(results.read_text())
        latencies = [s["exchange"]["response"]["elapsed_ms"] for sc in data["scenarios"] for s in sc["steps"]
                     if s["name"].startswith("Receive ") and s["exchange"]]
        report["notifications"] = {"run_s": round(elapsed, 2), "events": len(latencies),
                                   "latency_ms_min": min(latencies), "latency_ms_max": max(latencies)}
    with ReferenceServer(schemas=schemas) as server:
        seed(server, args.leads)
        elapsed, results = kit_run(server.url, work / "big")
        report[f"run_with_{args.leads}_leads"] = {
            "kit_s": round(elapsed, 2), **{k: round(v, 3) for k, v in render(results, browser).items()},
        }
    if browser:
        browser.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

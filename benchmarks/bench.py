#!/usr/bin/env python3
"""Measure, in one run on this machine, what a full conformance run costs (issue 11's figures):

- wall time against a reference server with added latency (a remote endpoint), full profile with
  notifications, for --workers 1 and --workers 4, and with notifications off;
- the kit against a bare httpx loop sending the same requests with the same concurrency;
- peak RSS and CPU of one `tmf699ctk run` process (the server runs in another process);
- a run against 10,000 stored leads, and the time to render its report.

    python benchmarks/bench.py [--repeat 5] [--latency-ms 50] [--leads 10000]

Medians of --repeat runs. Ratios are what to compare between machines; absolute times depend on
the machine and its load. Prints a Markdown table (the README's performance section).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, find_chromium  # noqa: E402
from tmf699ctk._outputs import write_outputs  # noqa: E402
from tmf699ctk._results import RunResult  # noqa: E402
from tmf699ctk.server import ReferenceServer  # noqa: E402

PYTHON = sys.executable


@contextmanager
def served(latency_ms: int) -> Iterator[str]:
    """The reference server in its own process (its CPU is not the kit's), with added latency."""
    proc = subprocess.Popen([PYTHON, "-m", "tmf699ctk", "serve", "--port", "0", "--latency-ms", str(latency_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(https?://\S+)", line)
        if not match:
            raise SystemExit(f"the reference server did not start: {line}{proc.stdout.read()}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def kit_process(url: str, folder: Path, *options: str) -> dict[str, float]:
    """One `tmf699ctk run` as a user runs it: wall, CPU and peak RSS of that process alone."""
    started = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-m", "tmf699ctk", "run", "--base-url", url, "-o", str(folder), *options],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"the run failed (exit {code}): {proc.stderr.read().decode() if proc.stderr else ''}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}


def recorded_requests(results: Path) -> list[list[tuple[str, str, list[Any], str | None]]]:
    """The requests of a run, per scenario and in order (cleanup included), to replay them."""
    data = json.loads(results.read_text())
    scenarios = []
    for sc in data["scenarios"]:
        sent = [(s["exchange"]["request"]["method"], s["exchange"]["request"]["url"],
                 s["exchange"]["request"]["headers"], s["exchange"]["request"]["body"])
                for s in sc["steps"] if s["exchange"] and not s["name"].startswith(("Receive ", "No "))]
        sent += [(c["request"]["method"], c["request"]["url"], [], None) for c in sc["cleanup"]]
        scenarios.append(sent)
    return scenarios


def bare_loop(scenarios: list[list[tuple[str, str, list[Any], str | None]]], workers: int) -> float:
    """The same requests from a plain httpx client: scenarios at once, each one's requests in order."""
    def replay(client: httpx.Client, requests: list[tuple[str, str, list[Any], str | None]]) -> None:
        for method, url, headers, body in requests:
            wanted = {k: v for k, v in headers if k.lower() in ("content-type", "accept")}
            client.request(method, url, headers=wanted, content=body.encode() if body else None)

    started = time.perf_counter()
    with httpx.Client(limits=httpx.Limits(max_connections=workers * 2)) as client, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda requests: replay(client, requests), scenarios))
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
    started = time.perf_counter()
    run = RunResult.read(results)
    html = write_outputs(run, results).paths[0]
    figures = {"results_mb": results.stat().st_size / 1e6, "html_kb": html.stat().st_size / 1e3,
               "render_s": time.perf_counter() - started}
    if browser:
        figures["browser_load_s"] = min(browser.load(html) for _ in range(3))
    return figures


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ctk-bench-"))
    rows: list[tuple[str, str]] = []
    n = args.repeat
    with served(args.latency_ms) as url:
        one = [kit_process(url, work / f"w1-{i}", "--workers", "1") for i in range(n)]
        four = [kit_process(url, work / f"w4-{i}", "--workers", "4") for i in range(n)]
        off = [kit_process(url, work / f"off-{i}", "--workers", "4", "--notifications", "off") for i in range(n)]
        data = json.loads((work / "w4-0" / "results.json").read_text())
        replay = recorded_requests(work / "off-0" / "results.json")
        bare = [bare_loop(replay, 4) for _ in range(n)]
    lat = f"{args.latency_ms} ms latency"
    rows += [
        (f"full profile, notifications optional, {lat}, --workers 1", f"{median(one, 'wall_s'):.2f} s"),
        (f"full profile, notifications optional, {lat}, --workers 4",
         f"{median(four, 'wall_s'):.2f} s (**{median(one, 'wall_s') / median(four, 'wall_s'):.1f}x** faster)"),
        (f"full profile, notifications off, {lat}, --workers 4", f"{median(off, 'wall_s'):.2f} s"),
        (f"kit vs a bare httpx loop replaying the same {sum(map(len, replay))} requests, 4 at once, {lat}",
         f"{median(off, 'wall_s'):.2f} s vs {statistics.median(bare):.2f} s: "
         f"**{median(off, 'wall_s') / statistics.median(bare):.2f}x** (the kit's wall includes its start-up)"),
        ("one run process (--workers 4, notifications optional): peak RSS, CPU",
         f"{median(four, 'rss_mib'):.0f} MiB, {median(four, 'cpu_s'):.2f} s CPU"),
        ("suite size", f"{len(data['scenarios'])} scenarios, {data['summary']['requests']['total']} requests, "
                       f"{data['summary']['checks']['total']} checks"),
    ]
    chromium = find_chromium()
    browser = Browser(chromium) if chromium else None
    if browser:
        browser.open_page()
    try:
        with ReferenceServer() as server:
            seed(server, args.leads)
            big = kit_process(server.url, work / "big", "--notifications", "off")
            figures = render(work / "big" / "results.json", browser)
        small = render(work / "w4-0" / "results.json", browser)
    finally:
        if browser:
            browser.close()
    rows += [
        ("full-suite report", f"results.json {small['results_mb']:.2f} MB, HTML {small['html_kb']:.0f} KB, "
                              f"rendered in {small['render_s']:.2f} s"
                              + (f", browser load {small['browser_load_s']:.2f} s" if browser else "")),
        (f"run against {args.leads:,} stored leads (every list returns them all), no added latency",
         f"{big['wall_s']:.2f} s, {big['rss_mib']:.0f} MiB peak; results.json {figures['results_mb']:.0f} MB, "
         f"HTML {figures['html_kb']:.0f} KB rendered in {figures['render_s']:.2f} s"
         + (f", browser load {figures['browser_load_s']:.2f} s" if browser else "")),
    ]
    print(f"Medians of {n} runs, {os.cpu_count()} cores, reference server in its own process.\n")
    print("| | figure |\n| --- | --- |")
    for label, figure in rows:
        print(f"| {label} | {figure} |")


if __name__ == "__main__":
    main()

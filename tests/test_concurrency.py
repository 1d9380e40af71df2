"""Scenarios run concurrently: the results must not depend on how many at once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tmf699ctk._outputs import write_outputs
from tmf699ctk._scenarios import load_scenarios, select
from tmf699ctk.server import ReferenceServer

from .conftest import run_suite

# what legitimately differs between two runs: server-made ids, the run's ids, clocks and timings
_UUID = re.compile(r"[0-9a-f]{32}")
_DATE_HEADER = re.compile(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_TOKEN = re.compile(r"/callback/[A-Za-z0-9_-]{16}")
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_MS = re.compile(r"\d+(\.\d+)? ms\b")
_TIMING_KEYS = {"elapsed_ms", "duration_ms", "avg_response_ms", "about_other_scenarios", "workers", "python",
                "platform"}


def normalised(value: Any, run_id: str, key: str = "") -> Any:
    if key in _TIMING_KEYS:
        return 0
    if isinstance(value, dict):
        return {k: normalised(v, run_id, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, run_id) for v in value]
    if isinstance(value, str):
        value = value.replace(run_id, "<run>").replace(run_id.upper(), "<RUN>")
        for pattern, placeholder in ((_UUID, "<id>"), (_STAMP, "<time>"), (_TOKEN, "/callback/<token>"),
                                     (_PORT, "<host>"), (_MS, "<ms>"), (_DATE_HEADER, "<date>")):
            value = pattern.sub(placeholder, value)
    return value


def test_results_and_outputs_are_the_same_for_one_or_many_workers(tmp_path: Path, schemas) -> None:
    runs = {}
    for workers in (1, 4):
        with ReferenceServer(schemas=schemas) as server:
            result = run_suite(tmp_path / str(workers), base_url=server.url, workers=workers)
            assert server.state.store.leads == {}  # every scenario's leads cleaned up, whatever ran at once
        assert result.verdict == "PASS"
        runs[workers] = result
    one, many = (normalised(runs[n].to_dict(), runs[n].target["run_id"]) for n in (1, 4))
    # suite order, whatever finished first
    assert [s["id"] for s in many["scenarios"]] == [s.id for s in select(load_scenarios(), "full")]
    assert one["scenarios"] == many["scenarios"]
    assert one["summary"] == many["summary"] and one["notifications"] == many["notifications"]
    htmls = {n: normalised(write_outputs(runs[n], tmp_path / str(n) / "report" / "results.json").paths[0]
                           .read_text(), runs[n].target["run_id"]) for n in (1, 4)}
    # the HTML differs only where the results digest and timings are shown
    strip = re.compile(r"[0-9a-f]{64}|\d+(\.\d+)? s\b")
    assert strip.sub("", htmls[1]) == strip.sub("", htmls[4])


def test_an_exclusive_scenario_runs_alone(tmp_path: Path, schemas) -> None:
    with ReferenceServer(schemas=schemas) as server:
        result = run_suite(tmp_path, base_url=server.url, workers=4)
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    spans = {s["id"]: (s["started_at"], s["duration_ms"]) for s in data["scenarios"]}
    exclusive = "FULL-LIST"
    start, _ = spans[exclusive]
    # it ran first, alone: every other scenario started after it had ended
    from datetime import datetime, timedelta

    def when(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    ended = when(start) + timedelta(milliseconds=spans[exclusive][1])
    assert all(when(s) >= ended - timedelta(milliseconds=2) for sid, (s, _) in spans.items() if sid != exclusive)
    assert result.verdict == "PASS"

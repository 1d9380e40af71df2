#!/usr/bin/env python3
"""Where one `tmf699ctk run` process spends its CPU and the wall time outside the HTTP exchanges
(issue 11): process CPU (user + sys, its children included) and wall, and per phase: the CLI's
import, typer's dispatch, the plan, execute(), masking + results.json, the reports.

    python benchmarks/startup.py [--repeat 7] [--latency-ms 50] [--against OTHER_CHECKOUT]

Each figure is the median of --repeat processes, run as a user runs them (`python -m tmf699ctk
run`, full profile, 4 workers, notifications optional) against the reference server in its own
process with --latency-ms added to every answer. The phases come from a second set of processes
started the same way (runpy, as `-m` does) with timers wrapped around the pipeline's functions,
so their sum is not exactly the plain process's figure. With --against, the same is measured for
another checkout of the kit (its own source, this Python), interleaved run by run so both see the
same machine load: compare the two columns, not figures from different sessions.

`import tmf699ctk.cli` is also timed alone, in fresh interpreters. The interpreter's own
PYTHONDONTWRITEBYTECODE is kept: without .pyc files (CI, some containers) every import compiles
the kit's sources, which is part of what a run costs there.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# runs `python -m tmf699ctk run ...` with timers around the pipeline's steps; written to $PHASES_OUT
_PHASES = r"""
import json, os, runpy, sys, time
T0, C0 = time.perf_counter(), time.process_time()
times = {}

def timed(module, name, key):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            times[key + "_wall"] = times.get(key + "_wall", 0) + time.perf_counter() - wall
            times[key + "_cpu"] = times.get(key + "_cpu", 0) + time.process_time() - cpu
    setattr(module, name, wrapper)
    return wrapper

class Hook:
    # once a module of the kit has run its body: its functions are wrapped, the import timed
    def find_spec(self, name, path=None, target=None):
        if name not in ("tmf699ctk.cli", "tmf699ctk._pipeline"):
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        execute = spec.loader.exec_module
        def exec_module(module):
            execute(module)
            if name == "tmf699ctk.cli":
                times["import_cli_cpu"], times["import_cli_wall"] = time.process_time() - C0, time.perf_counter() - T0
                original = module.settings_from_cli
                def settings_from_cli(*args, **kwargs):
                    times["to_command_cpu"] = time.process_time() - C0
                    return original(*args, **kwargs)
                module.settings_from_cli = settings_from_cli
            else:
                import tmf699ctk._plan as plan
                wrapper = timed(plan, "build_plan", "plan")
                module.build_plan = wrapper
                for function, key in (("execute", "execute"), ("masked", "mask"), ("save_results", "save"),
                                      ("write_outputs", "render")):
                    timed(module, function, key)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
exit_ = os._exit
def leave(code):
    with open(os.environ["PHASES_OUT"], "w") as out:
        json.dump(times, out)
    exit_(code)
os._exit = leave
sys.argv = ["tmf699ctk", *sys.argv[1:]]
try:
    runpy.run_module("tmf699ctk", run_name="__main__", alter_sys=True)
except SystemExit as exc:  # a kit whose entry point returns instead of leaving with os._exit
    leave(exc.code if isinstance(exc.code, int) else 1)
leave(0)
"""


def served(latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([PYTHON, "-m", "tmf699ctk", "serve", "--port", "0", "--latency-ms", str(latency_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, "NO_COLOR": "1"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(https?://\S+)", line)
    if not match:
        proc.terminate()
        raise SystemExit(f"the reference server did not start: {line}")
    return proc, match.group(1)


def process(tree: Path, args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """One process in ``tree`` (its kit first on sys.path): wall, CPU (children included), peak RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen([PYTHON, *args], cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(tree), **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: a check failed (not this benchmark's business)
        raise SystemExit(f"{tree}: exit {code}: {proc.stderr.read().decode() if proc.stderr else ''}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}


def measure(tree: Path, url: str, work: Path, index: int) -> dict[str, float]:
    run = ["run", "--base-url", url, "--workers", "4", "--notifications", "optional"]
    figures = process(tree, ["-m", "tmf699ctk", *run, "-o", str(work / f"plain-{index}")])
    out = work / f"phases-{index}.json"
    phased = process(tree, ["-c", _PHASES, *run, "-o", str(work / f"phases-{index}")], {"PHASES_OUT": str(out)})
    phases: dict[str, float] = json.loads(out.read_text())
    phases["outside_execute_wall"] = phased["wall"] - phases["execute_wall"]
    phases["mask_save_cpu"] = phases.get("mask_cpu", 0.0) + phases.get("save_cpu", 0.0)
    probe = "import time\nc = time.process_time()\nimport tmf699ctk.cli\nprint(time.process_time() - c)"
    alone = subprocess.run([PYTHON, "-c", probe], cwd=tree, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(tree)})
    return {**figures, **phases, "import_alone_cpu": float(alone.stdout)}


ROWS = [
    ("CPU of the run process (user + sys)", "cpu", "s"),
    ("wall of the run process", "wall", "s"),
    ("peak RSS", "rss_mib", "MiB"),
    ("`import tmf699ctk.cli` alone, CPU", "import_alone_cpu", "ms"),
    ("phases: interpreter start + CLI import, CPU", "import_cli_cpu", "ms"),
    ("phases: ... + typer dispatch to `run`, CPU", "to_command_cpu", "ms"),
    ("phases: plan (scenarios, schemas, payloads, digest), CPU", "plan_cpu", "ms"),
    ("phases: execute(), wall", "execute_wall", "s"),
    ("phases: CPU during execute() (every thread)", "execute_cpu", "ms"),
    ("phases: masking + results.json, CPU", "mask_save_cpu", "ms"),
    ("phases: HTML report (and JUnit/Markdown if asked), CPU", "render_cpu", "ms"),
    ("phases: wall outside execute()", "outside_execute_wall", "s"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--against", type=Path, help="another checkout of the kit, measured interleaved")
    args = parser.parse_args()
    trees = [ROOT, *([args.against.resolve()] if args.against else [])]
    work = Path(tempfile.mkdtemp(prefix="ctk-startup-"))
    server, url = served(args.latency_ms)
    runs: dict[Path, list[dict[str, Any]]] = {tree: [] for tree in trees}
    try:
        for index in range(args.repeat):
            for number, tree in enumerate(trees):
                runs[tree].append(measure(tree, url, work / f"t{number}", index))
    finally:
        server.terminate()
        server.wait(timeout=10)
    pyc = "without .pyc (PYTHONDONTWRITEBYTECODE)" if sys.flags.dont_write_bytecode else "with .pyc"
    print(f"Medians of {args.repeat} processes, {os.cpu_count()} cores, server in its own process "
          f"(+{args.latency_ms} ms per answer), {pyc}.\n")
    print("| | " + " | ".join(str(t) for t in trees) + " |\n| --- |" + " --- |" * len(trees))
    for label, key, unit in ROWS:
        cells = []
        for tree in trees:
            value = statistics.median(r[key] for r in runs[tree] if key in r) if any(key in r for r in runs[tree]) \
                else float("nan")
            cells.append(f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.3f} s" if unit == "s"
                         else f"{value:.0f} {unit}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

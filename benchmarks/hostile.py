#!/usr/bin/env python3
"""Peak memory and duration of a whole run against each hostile mode (tests/hostile.py).

    python benchmarks/hostile.py [--profile full|official] [--timeout 2] [MODE ...]

Each run is a real `tmf699ctk run` process; its peak RSS comes from the kernel (wait4), its
duration from the results. The bound printed beside the duration is the issue's: every request
the run made times --timeout, plus the cleanup's own allowance. Nothing is asserted: the figures
are for the README and for comparing machines (absolute times depend on the machine's load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile import BY_NAME, MODES, HostileServer, certificate  # noqa: E402

LIMIT_MIB = 300  # the bound on peak memory against any hostile server
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_mode(name: str, profile: str, timeout: float) -> dict[str, object]:
    mode = BY_NAME[name]
    with tempfile.TemporaryDirectory(prefix=f"ctk-hostile-{name}-") as folder, HostileServer(mode) as server:
        args = [sys.executable, "-m", "tmf699ctk", "run", "--base-url", server.url, "--profile", profile,
                "--timeout", str(timeout), "--user", "bench:secret-bench-pass", "-o", folder]
        started = time.perf_counter()
        # measured by a small launcher: a child's peak RSS starts at its parent's size at fork time,
        # and this process holds the hostile server's buffers
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, *args], capture_output=True,
                              env={**os.environ, "NO_COLOR": "1"}, cwd=folder, text=True)
        wall = time.perf_counter() - started
        stderr = proc.stderr
        exit_code, max_rss_kib = map(int, proc.stdout.strip().splitlines()[-1].split())
        results = Path(folder) / "results.json"
        data = json.loads(results.read_text()) if results.is_file() else {}
        requests = sum(1 for s in data.get("scenarios", []) for st in s["steps"] if st.get("exchange"))
        requests += sum(len(s["cleanup"]) for s in data.get("scenarios", []))
        cleanup_allowance = max(timeout, 5.0) * sum(len(s["cleanup"]) for s in data.get("scenarios", []))
        return {
            "mode": name,
            "exit": exit_code,
            "peak_mib": max_rss_kib / 1024,
            "wall_s": wall,
            "run_s": data.get("duration_ms", 0) / 1000,
            "requests": requests,
            "bound_s": requests * timeout + cleanup_allowance,
            "results_kib": results.stat().st_size / 1024 if results.is_file() else 0,
            "html": any(Path(folder).glob("*-HTMLReport.html")),
            "traceback": "Traceback" in stderr,
            "outside": len(server.outside()),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modes", nargs="*", help="modes to run (default: all)")
    parser.add_argument("--profile", default="full", choices=["full", "official"])
    parser.add_argument("--timeout", type=float, default=2.0)
    options = parser.parse_args()
    names = options.modes or [m.name for m in MODES if not m.tls or certificate() is not None]
    print(f"{'mode':22} {'exit':>4} {'peak MiB':>9} {'run s':>7} {'bound s':>8} {'requests':>8} "
          f"{'results KiB':>11}  notes")
    worst = 0.0
    for name in names:
        row = run_mode(name, options.profile, options.timeout)
        worst = max(worst, float(row["peak_mib"]))  # type: ignore[arg-type]
        notes = [n for n, bad in (("NO HTML", not row["html"]), ("TRACEBACK", row["traceback"]),
                                  ("LEFT THE API", row["outside"]),
                                  (f"OVER {LIMIT_MIB} MiB", float(row["peak_mib"]) > LIMIT_MIB),  # type: ignore[arg-type]
                                  ("OVER THE TIME BOUND", float(row["run_s"]) > float(row["bound_s"])))  # type: ignore[arg-type]
                 if bad]
        print(f"{row['mode']:22} {row['exit']:>4} {row['peak_mib']:>9.0f} {row['run_s']:>7.1f} {row['bound_s']:>8.0f} "
              f"{row['requests']:>8} {row['results_kib']:>11.0f}  {', '.join(notes)}", flush=True)
    print(f"worst peak RSS: {worst:.0f} MiB (limit {LIMIT_MIB} MiB)")


if __name__ == "__main__":
    main()

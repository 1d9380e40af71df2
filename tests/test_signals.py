"""Interrupting a run against a slow server: SIGINT, SIGTERM (a cancelled CI job), a second SIGINT,
and a --timeout shorter than the server's latency.

The server is the reference server with a latency (``serve --latency-ms``), so requests are in
flight when the signal arrives. Each test asserts the exit code, results.json and the HTML report
written (``"aborted": true`` where interrupted), the in-flight scenario's steps kept, and that
every lead still in the server's store is listed as a leftover (usually there is none).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tmf699ctk._http import INTERRUPTED
from tmf699ctk._results import RunResult
from tmf699ctk.server import ReferenceServer

LATENCY_MS = 400


class SlowServer(ReferenceServer):
    """The reference server answering each request LATENCY_MS late, counting what it answered."""

    def __init__(self, latency_ms: float = LATENCY_MS) -> None:
        self.answered = 0
        # several requests answered and another one just received, held for its latency: the run is
        # in full swing and a request is in flight (set on an answer, a signal could come in the
        # moment between one step's answer and the next step's request, with nothing in flight)
        self.under_way = threading.Event()
        super().__init__(latency_ms=latency_ms, log=self._count)
        delay = self.state.delay

        def held() -> None:
            if self.answered >= 6:
                self.under_way.set()
            delay()

        self.state.delay = held  # type: ignore[method-assign]

    def _count(self, line: str) -> None:
        self.answered += 1


def start_run(url: str, folder: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tmf699ctk", "run", "--base-url", url, "--notifications", "off", "-o", str(folder),
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})


def assert_results_written(proc: subprocess.Popen[str], folder: Path, code: int) -> tuple[RunResult, str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err, err
    assert list(folder.glob("*-HTMLReport.html")), list(folder.iterdir())
    return RunResult.read(folder / "results.json"), out


def assert_nothing_left_unsaid(result: RunResult, leads: dict[str, dict]) -> None:
    """Every lead the server still holds is listed as a leftover (by id, or by the name sent)."""
    listed_ids = {x.id for x in result.leftovers if x.id}
    listed_names = {x.name for x in result.leftovers if x.name}
    unsaid = [lead_id for lead_id, lead in leads.items()
              if lead_id not in listed_ids and lead.get("name") not in listed_names]
    assert unsaid == [], (unsaid, result.leftovers)


def assert_in_flight_steps_kept(result: RunResult) -> None:
    """A request in flight when the signal came is recorded as interrupted, after its scenario's
    earlier steps."""
    interrupted = [(scenario, index) for scenario in result.scenarios for index, step in enumerate(scenario.steps)
                   if step.exchange is not None and (step.exchange.error or "").startswith(INTERRUPTED)]
    assert interrupted, "no exchange was recorded as interrupted"
    scenario, index = interrupted[0]
    step = scenario.steps[index]
    assert step.checks and all(c.status.value == "skipped" and INTERRUPTED in c.message for c in step.checks)


def test_sigint_stops_cleans_up_and_writes_partial_results(tmp_path: Path) -> None:
    with SlowServer() as server:
        proc = start_run(server.url, tmp_path / "r")
        assert server.under_way.wait(60), "the run never got under way"
        proc.send_signal(signal.SIGINT)
        result, out = assert_results_written(proc, tmp_path / "r", 3)
        leads = dict(server.state.store.leads)
    assert result.aborted and "interrupted by the user (Ctrl-C)" in (result.abort_reason or "")
    assert "Run aborted: interrupted by the user" in out
    assert_in_flight_steps_kept(result)
    assert leads == {} and result.leftovers == []  # the cleanup deleted everything within its budget
    assert any(s.cleanup for s in result.scenarios)  # and recorded how


def test_sigterm_from_a_cancelled_ci_job_is_an_interruption_too(tmp_path: Path) -> None:
    """Against `tmf699ctk serve --latency-ms --log`, as a separate process."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "tmf699ctk", "serve", "--port", "0", "--latency-ms", str(LATENCY_MS),
         "--jitter-ms", "300", "--log"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    try:
        assert serve.stdout is not None and serve.stderr is not None
        url = serve.stdout.readline().split(" on ", 1)[1].strip()
        proc = start_run(url, tmp_path / "r")
        # --log: one line per request answered. The paging scenario's seven POSTs go together, answered
        # over 300 ms of jitter: after the first of them, others are still in flight
        for _ in range(3):
            assert "HTTP/1.1" in serve.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        result, out = assert_results_written(proc, tmp_path / "r", 3)
        listed = httpx.get(url + "/salesLead", timeout=30).json()
    finally:
        serve.terminate()
        serve.communicate(timeout=30)
    assert result.aborted and "SIGTERM" in (result.abort_reason or "")
    assert "Run aborted: interrupted by SIGTERM" in out
    assert_in_flight_steps_kept(result)
    assert_nothing_left_unsaid(result, {lead["id"]: lead for lead in listed})


def test_a_second_sigint_skips_the_cleanup_but_still_writes_everything(tmp_path: Path) -> None:
    with SlowServer() as server:
        proc = start_run(server.url, tmp_path / "r")
        assert server.under_way.wait(60), "the run never got under way"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)  # the cleanup has begun: its requests wait on the slow server
        proc.send_signal(signal.SIGINT)
        result, out = assert_results_written(proc, tmp_path / "r", 3)
        leads = dict(server.state.store.leads)
    assert result.aborted
    assert_nothing_left_unsaid(result, leads)
    skipped = [x for x in result.leftovers if "skipped by a second interruption" in x.reason]
    assert skipped, result.leftovers
    for leftover in result.leftovers:  # each with a ready command in the terminal
        assert leftover.curl() in out


def test_posts_that_time_out_while_the_server_creates_the_lead_are_found_and_deleted(tmp_path: Path) -> None:
    """--timeout 0.3 against a server answering after 1 s: every POST is lost, every lead is made."""
    with SlowServer(latency_ms=1000) as server:
        proc = start_run(server.url, tmp_path / "r", "--timeout", "0.3", "--profile", "official")
        result, _ = assert_results_written(proc, tmp_path / "r", 1)
        leads = dict(server.state.store.leads)
    assert not result.aborted
    posts = [s.exchange for sc in result.scenarios for s in sc.steps
             if s.exchange is not None and s.exchange.request.method == "POST"]
    assert posts and all("timed out after 0.3s" in (e.error or "") for e in posts)
    lookups = [e for sc in result.scenarios for e in sc.cleanup if "?name=" in e.request.url]
    assert len(lookups) >= len(posts)  # each lost POST was looked up by the unique name it sent
    assert leads == {} and result.leftovers == []


def test_the_results_file_says_aborted_in_json_too(tmp_path: Path) -> None:
    """What a CI step reads: the raw file, not the kit's model."""
    with SlowServer() as server:
        proc = start_run(server.url, tmp_path / "r", "--profile", "official")
        assert server.under_way.wait(60), "the run never got under way"
        proc.send_signal(signal.SIGTERM)
        assert_results_written(proc, tmp_path / "r", 3)
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert data["aborted"] is True and data["verdict"] == "FAIL" and data["abort_reason"]


def test_sigterm_while_scenarios_wait_out_their_quiet_periods_still_cleans_up_everything(tmp_path: Path) -> None:
    """With one worker and a long quiet period, the notification scenarios have given their place to
    the others when the signal comes: the run stops at once, not after the quiet period, judges
    nothing it did not watch to the end, and deletes every lead of every scenario."""
    answered = threading.Event()

    class Counting(ReferenceServer):
        def __init__(self) -> None:
            self.count = 0
            super().__init__(log=self._count)

        def _count(self, line: str) -> None:
            self.count += 1
            if self.count >= 70:  # past the exclusive and the notification scenarios' requests
                answered.set()

    with Counting() as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tmf699ctk", "run", "--base-url", server.url, "-o", str(tmp_path / "r"),
             "--workers", "1", "--quiet-period", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
        assert answered.wait(60), "the run never got past the notification scenarios"
        proc.send_signal(signal.SIGTERM)
        result, _ = assert_results_written(proc, tmp_path / "r", 3)
        leads = dict(server.state.store.leads)
    assert result.aborted and leads == {} and result.leftovers == []
    watched = [step for scenario in result.scenarios if scenario.id.startswith("FULL-NOTIFICATIONS")
               for step in scenario.steps if step.name.startswith("No ")]
    assert watched and all(step.skipped_reason == "interrupted while watching for the notification"
                           for step in watched), [(s.name, s.skipped_reason) for s in watched]
    later = [s for s in result.scenarios if not s.id.startswith(("OFFICIAL", "FULL-LIST", "FULL-NOTIFICATIONS"))]
    assert later, "no other scenario ran while the notification scenarios waited"


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the pool's processes in /proc")
@pytest.mark.parametrize(("sig", "group"), [(signal.SIGTERM, False), (signal.SIGKILL, False),
                                            (signal.SIGTERM, True), (signal.SIGINT, True)],
                         ids=["SIGTERM", "SIGKILL", "SIGTERM-to-the-group", "Ctrl-C-in-a-terminal"])
def test_a_stopped_self_check_leaves_no_process_behind(sig: signal.Signals, group: bool) -> None:
    """A cancelled CI job stopped `tmf699ctk selftest` and left its nine pool processes waiting forever
    for their next run. SIGTERM now interrupts it (exit 3, said); even SIGKILL, which it cannot see,
    ends its processes: each leaves once the self-check's process is gone. A signal to the whole
    process group (a terminal's Ctrl-C, a job's SIGTERM) is the self-check's alone to handle: no
    process of its pool prints a traceback."""
    # the two runs that wait out their bound for events go beside the working ones: four processes
    faults = ["--fault", "events-never-sent", "--fault", "event-wrong-type", "--fault", "create-200"]
    proc = subprocess.Popen([sys.executable, "-m", "tmf699ctk", "selftest", *faults],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group,
                            env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ok ")  # one run ended: the pool is at work
        children = [int(pid) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                    for pid in (task / "children").read_text().split()]
        assert len(children) >= 3, children
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    if sig != signal.SIGKILL:
        assert proc.returncode == 3 and "interrupted: the self-check did not finish" in err, err
        assert "Traceback" not in err
    deadline = time.monotonic() + 30
    while not all(map(_gone, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if not _gone(pid)] == []


def test_max_time_stops_the_run_as_an_interruption_does(tmp_path: Path) -> None:
    """--max-time: a run against a server too slow to finish in time stops at the limit, deletes what
    it created and writes results that say why (exit 3), as a cancelled CI job's run does."""
    with SlowServer() as server:
        started = time.monotonic()
        proc = start_run(server.url, tmp_path / "r", "--max-time", "1.5")
        result, out = assert_results_written(proc, tmp_path / "r", 3)
        took = time.monotonic() - started
        leads = dict(server.state.store.leads)
    assert result.aborted and result.abort_reason == "the run reached its time limit of 1.5 s (--max-time)"
    assert "Run aborted: the run reached its time limit of 1.5 s" in out
    sent = sum(1 for s in result.scenarios for step in s.steps if step.exchange is not None)
    assert 0 < sent < 60, sent  # under way, and stopped long before its ~140 requests at 0.4 s each
    assert took < 60, took
    assert_nothing_left_unsaid(result, leads)


def test_a_run_that_does_not_end_once_stopped_prints_its_stacks_and_exits_3(tmp_path: Path) -> None:
    """A kit defect that keeps a stopped run from ending (here its cleanup never returns) must not hold
    a CI job until the job's own timeout: past the cleanup budget and a grace period, the kit prints
    every thread's stack on stderr and exits 3."""
    script = (
        "import signal, sys, threading\n"
        "from tmf699ctk import cli, _runner\n"
        "cli.STOP_GRACE = 0.5\n"
        "def a_cleanup_that_never_returns(self, result):\n"
        "    threading.Event().wait()\n"
        "_runner.Runner._final_sweep = a_cleanup_that_never_returns\n"
        f"sys.argv = ['tmf699ctk', 'run', '--embedded', '--notifications', 'off', '-o', {str(tmp_path / 'r')!r},\n"
        "            '--max-time', '0.5', '--cleanup-timeout', '0.2']\n"
        "cli.entry()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "error: the run did not end 0.8 s after it was stopped (the run reached its time limit of 0.5 s " \
           "(--max-time)); this is a defect of the kit" in proc.stderr, proc.stderr
    assert "a_cleanup_that_never_returns" in proc.stderr and "Traceback" not in proc.stderr

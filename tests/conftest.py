"""Shared fixtures: real servers on 127.0.0.1 with ephemeral ports, stopped after use."""

from __future__ import annotations

import gc
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tmf699ctk import _pipeline
from tmf699ctk._results import RunResult
from tmf699ctk._schemas import SchemaStore
from tmf699ctk._settings import build_settings
from tmf699ctk.server import ReferenceServer


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore.load()


@pytest.fixture
def reference_server(schemas: SchemaStore) -> Iterator[ReferenceServer]:
    with ReferenceServer(schemas=schemas) as server:
        yield server


# the old option names of run_suite(), as settings keys
_KEYS = {
    "base_url": "target.base_url", "embedded": "run.embedded", "faults": "run.faults", "profile": "run.profile",
    "scenario_paths": "run.scenario_paths", "only": "run.only", "tags": "run.tags", "headers": "target.headers",
    "user": "target.basic_auth", "secret_headers": "target.secret_headers", "timeout": "target.timeout",
    "ca_bundle": "target.ca_bundle", "proxy": "target.proxy", "notifications": "notifications.mode",
    "listen": "notifications.listen", "callback_url": "notifications.callback_url",
    "event_timeout": "notifications.event_timeout", "quiet_period": "notifications.quiet_period",
    "workers": "run.workers", "api_version": "target.api_version", "max_body": "target.max_body",
    "cleanup_timeout": "run.cleanup_timeout",
}


def run_suite(tmp_path: Path, config_path: Path | None = None, insecure: bool = False,
              **options: object) -> RunResult:
    """Run the suite through the same pipeline the CLI uses; results come back from disk.

    Tests wait for events and quiet periods less than a real run does: the servers here deliver
    within milliseconds (a test may still pass its own values)."""
    cli = {"notifications.event_timeout": 2.0, "notifications.quiet_period": 0.3,
           "output.report_dir": tmp_path / "report"}
    cli.update({_KEYS.get(k, k): v for k, v in options.items()})  # an old name, or a settings key
    if insecure:
        cli["target.verify_tls"] = False
    settings = build_settings(cli, env={}, config_path=config_path)
    finished = _pipeline.run(settings)
    return RunResult.read(finished.outputs.results)


# The tests of Ctrl-C send SIGINT to the kit's processes, so it must reach them. A shell that starts a
# job in the background without job control (`cmd &` in a script, some CI runners) has it ignore
# SIGINT, an ignored signal stays ignored across fork and exec, and Python then never raises
# KeyboardInterrupt: those tests failed. A handler (reset to the default by exec) restores it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


_BACKGROUND = False


def _lower_priority() -> None:
    if _BACKGROUND:
        os.nice(10)


os.register_at_fork(after_in_child=_lower_priority)


@contextmanager
def forked_in_background() -> Iterator[None]:
    """The processes forked inside (the fault matrices' runs) run at a lower priority (nice 10): they
    are throughput work, using the cores the other tests leave idle while those wait on servers,
    subprocesses and quiet periods, instead of taking their share from them (measured: pytest 89 s
    without, 83-86 s with, on two cores; the matrices' CPU is the same)."""
    global _BACKGROUND
    _BACKGROUND = True
    try:
        yield
    finally:
        _BACKGROUND = False


def failed_rules(result: RunResult) -> set[str]:
    return {c.rule_id for c in result.checks() if c.status.value in ("failed", "error")}


def results_text(tmp_path: Path) -> str:
    return (tmp_path / "report" / "results.json").read_text(encoding="utf-8")


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# The order in which `--dist loadfile` hands files to the workers: the fault matrices (the most CPU,
# each in pools of its own, at a lower priority: see forked_in_background), then the files that
# mostly wait (slow and hostile servers, timeouts, quiet periods, events), then the other long ones
# with few tests (~8-15 s each on two cores), then the rest, most tests first (xdist's own order).
# Waiting costs no CPU while the matrices use it, where at the end the same waits would leave the
# cores idle; and the last files handed out are short.
# (test_e2e.py's unreachable-target test no longer races the kit's own check: it waits with the others)
FIRST = ("test_v5_faults.py", "test_faults.py")
WAITING = ("test_hostile.py", "test_signals.py", "test_e2e.py", "test_auth.py", "test_notifications.py",
           "test_concurrency.py")
LONG = ("test_v5.py", "test_plugin.py", "test_ci_docs.py", "test_cli.py", "test_cliproc.py", "test_report_browser.py")


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "loadscopereorder", None):
        config.option.loadscopereorder = False  # the files come in pytest_collection_modifyitems's order


def pytest_collection_finish(session: pytest.Session) -> None:
    """What exists once the tests are collected (modules, test items) lives as long as the process:
    the garbage collector's full passes need not go through it again at every pass (they took ~8 %
    of a worker's CPU), nor the fault matrices' forked processes."""
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.path.name] = counts.get(item.path.name, 0) + 1
    ranks = {name: rank for rank, name in enumerate((*FIRST, *WAITING, *LONG))}
    # stable: the tests of one file keep their order
    items.sort(key=lambda item: (ranks.get(item.path.name, len(ranks)), -counts[item.path.name], item.path.name))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The command-line zygote ends with this process (and is waited for: its CPU time is counted)."""
    from .cliproc import shutdown

    shutdown()

"""Shared fixtures: real servers on 127.0.0.1 with ephemeral ports, stopped after use."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    cli.update({_KEYS[k]: v for k, v in options.items()})
    if insecure:
        cli["target.verify_tls"] = False
    settings = build_settings(cli, env={}, config_path=config_path)
    finished = _pipeline.run(settings)
    return RunResult.read(finished.outputs.results)


def failed_rules(result: RunResult) -> set[str]:
    return {c.rule_id for c in result.checks() if c.status.value in ("failed", "error")}


def results_text(tmp_path: Path) -> str:
    return (tmp_path / "report" / "results.json").read_text(encoding="utf-8")


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The command-line zygote ends with this process (and is waited for: its CPU time is counted)."""
    from .cliproc import shutdown

    shutdown()

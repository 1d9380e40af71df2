"""Shared fixtures: real servers on 127.0.0.1 with ephemeral ports, stopped after use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tmf699ctk._pipeline import RunOptions, execute, prepare
from tmf699ctk._results import RunResult
from tmf699ctk._schemas import SchemaStore
from tmf699ctk.server import ReferenceServer


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    return SchemaStore.load()


@pytest.fixture
def reference_server(schemas: SchemaStore) -> Iterator[ReferenceServer]:
    with ReferenceServer(schemas=schemas) as server:
        yield server


def run_suite(tmp_path: Path, **options: object) -> RunResult:
    """Run the suite through the same pipeline the CLI uses; results come back from disk."""
    opts = RunOptions(report_dir=tmp_path / "report", **options)  # type: ignore[arg-type]
    _, folder = execute(opts, prepare(opts))
    return RunResult.read(folder / "results.json")


def failed_rules(result: RunResult) -> set[str]:
    return {c.rule_id for c in result.checks() if c.status.value in ("failed", "error")}


def results_text(tmp_path: Path) -> str:
    return (tmp_path / "report" / "results.json").read_text(encoding="utf-8")


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))

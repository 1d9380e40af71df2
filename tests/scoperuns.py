"""Real runs whose scope is not a plain complete run: partial, custom scenarios, --insecure."""

from __future__ import annotations

from pathlib import Path

from tmf699ctk._resources import data_dir
from tmf699ctk._results import RunResult

from .conftest import run_suite

SCOPES = ("partial", "custom", "insecure")


def scope_run(kind: str, folder: Path) -> tuple[RunResult, Path]:
    """(the run read back from disk, its report folder) for one of ``SCOPES``."""
    if kind == "partial":
        result = run_suite(folder, embedded=True, profile="official", only=["OFFICIAL-N1"])
    elif kind == "custom":
        # a custom file reusing a bundled scenario's ID: it must not pass for the bundled one
        custom = folder / "mine" / "N1.yaml"
        custom.parent.mkdir(parents=True)
        bundled = data_dir("scenarios") / "official" / "N1-create-list-retrieve.yaml"
        custom.write_text(bundled.read_text(encoding="utf-8").replace("\"N1: ", "\"N1 (edited): ", 1))
        result = run_suite(folder, embedded=True, profile="official", scenario_paths=(custom,))
    elif kind == "insecure":
        result = run_suite(folder, embedded=True, profile="official", insecure=True)
    else:
        raise ValueError(kind)
    return result, folder / "report"

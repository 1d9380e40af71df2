"""Compose the steps of a run: settings -> plan -> (embedded server) -> execute -> save -> render.

Each step is a separate function; the CLI, the self-check and the pytest plugin call the ones
they need. ``execute`` (in ``_runner``) is pure; saving and rendering happen here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ._outputs import OutputPaths, Written, masked, prepare_outputs, save_results, write_outputs
from ._plan import Plan, build_plan
from ._results import RunResult
from ._runner import CancelToken, RunObserver, execute
from ._settings import Settings


@contextmanager
def embedded_target(settings: Settings, plan: Plan | None = None) -> Iterator[tuple[Settings, dict[str, Any]]]:
    """The settings aimed at the bundled reference server (started for the run) when asked for."""
    if not settings.run.embedded:
        yield settings, {"embedded": False}
        return
    from .server import ReferenceServer

    server = ReferenceServer(faults=settings.run.faults, schemas=plan.schemas if plan else None,
                             api_version=plan.api_version if plan else "4.0.0").start()
    try:
        yield settings.with_base_url(server.url), {"embedded": True, "faults": sorted(settings.run.faults)}
    finally:
        server.stop()


@dataclass
class Finished:
    result: RunResult  # masked: safe to show and write
    outputs: OutputPaths
    written: Written


def run(settings: Settings, *, observer: RunObserver | None = None, cancel: CancelToken | None = None,
        plan: Plan | None = None) -> Finished:
    """The whole job of `tmf699ctk run`: every input and output checked before the first request."""
    plan = plan or build_plan(settings)
    baseline = None
    if settings.run.baseline:  # read first: a file that is no results file leaves nothing written
        from ._baseline import Baseline

        baseline = Baseline.load(settings.run.baseline)
    outputs = prepare_outputs(settings.output, settings.report.get("company"), plan.api_version)
    with embedded_target(settings, plan) as (target, info):
        result = execute(plan, target, observer=observer, cancel=cancel, target_info=info)
    shown = masked(result, settings.redactor)
    del result  # the unmasked copy is not needed any more: large runs keep only one in memory
    if baseline is not None:
        from ._baseline import compare

        shown.baseline = compare(shown, baseline).to_dict()
    save_results(shown, outputs.results)
    written = write_outputs(shown, outputs.results, outputs)
    return Finished(shown, outputs, written)

"""Presentation helpers shared by the renderers: formatting only, never conformance logic."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
from pathlib import Path

from . import _safejson
from ._results import CheckResult, Exchange, RunResult, Status, is_blocking
from ._submission_names import deliverable_name

BODY_LIMIT = 20_000  # characters of a body shown in a page; results.json keeps everything
_NOISE_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pretty_body(text: str | None, limit: int = BODY_LIMIT) -> tuple[str, int]:
    """(shown text, characters left out); JSON is indented when it is small enough to matter."""
    if not text:
        return "", 0
    shown = text
    if len(text) <= limit * 4:
        with contextlib.suppress(ValueError):  # not JSON, or nested too deep to indent: shown as sent
            shown = json.dumps(_safejson.loads(text), indent=2, ensure_ascii=False)
    if len(shown) > limit:
        return shown[:limit], len(shown) - limit
    return shown, 0


def curl(exchange: Exchange) -> str:
    """A copy-pasteable command reproducing the request (headers already masked)."""
    req = exchange.request
    parts = ["curl", "-i", "-X", req.method, shlex.quote(req.url)]
    for name, value in req.headers:
        if name.lower() not in _NOISE_HEADERS:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if req.body is not None:
        parts += ["--data-raw", shlex.quote(req.body)]
    return " ".join(parts)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def check_outcome(check: CheckResult) -> str:
    """One word a reader sees: passed, FAILED, warning, error, skipped, not supported."""
    if check.status == Status.FAILED and not is_blocking(check):
        return "warning"
    if check.not_supported:
        return "not supported"
    return check.status.value


def report_filename(run: RunResult) -> str:
    """``ACME-TMF699-v4.0.0-HTMLReport.html`` with a company, else ``TMF699-v4.0.0-HTMLReport.html``."""
    return deliverable_name(run.metadata, str(run.spec.get("version", "")), "HTMLReport.html")


def declined_features(run: RunResult) -> list[tuple[str, int]]:
    """Each reason a server gave for not offering an optional feature, with the checks it skipped."""
    counts: dict[str, int] = {}
    for scenario in run.scenarios:
        for step in scenario.steps:
            skipped = sum(1 for c in step.checks if c.not_supported)
            if skipped and step.skipped_reason:
                counts[step.skipped_reason] = counts.get(step.skipped_reason, 0) + skipped
    return list(counts.items())

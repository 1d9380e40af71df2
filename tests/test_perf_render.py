"""Start-up cost (issue 11): the report template is compiled once, possibly while the run waits."""

from __future__ import annotations

import threading

from tmf699ctk import _report_html


def test_the_template_is_compiled_once_when_the_background_and_the_rendering_ask_together() -> None:
    _report_html._compiled.cache_clear()
    start = threading.Barrier(5)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(_report_html._template())

    threads = [_report_html.prepare(), *(threading.Thread(target=ask) for _ in range(5))]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert _report_html._compiled.cache_info().misses == 1
    assert len(got) == 5 and all(g is got[0] for g in got)

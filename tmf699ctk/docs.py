"""Regenerate docs/*.md from the code: ``python -m tmf699ctk.docs [DOCS_DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path

from ._docs import (
    MATRIX_V5_BEGIN,
    MATRIX_V5_END,
    SETTINGS_BEGIN,
    SETTINGS_END,
    faults_markdown,
    faults_v5_markdown,
    matrix_markdown,
    replace_block,
    rules_markdown,
    settings_markdown,
)
from ._selftest import selftest


def write_docs(folder: Path, readme: Path | None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rules = folder / "rules.md"
    rules.write_text(rules_markdown(), encoding="utf-8")
    outcomes = selftest()
    faults = folder / "faults.md"
    faults.write_text(faults_markdown(outcomes), encoding="utf-8")
    outcomes_v5 = selftest(api_version="5.0.0")
    faults_v5 = folder / "faults-v5.md"
    faults_v5.write_text(faults_v5_markdown(outcomes_v5), encoding="utf-8")
    written = [rules, faults, faults_v5]
    if readme is not None and readme.is_file():
        text = replace_block(readme.read_text(encoding="utf-8"), matrix_markdown(outcomes))
        text = replace_block(text, matrix_markdown(outcomes_v5), MATRIX_V5_BEGIN, MATRIX_V5_END)
        text = replace_block(text, settings_markdown(), SETTINGS_BEGIN, SETTINGS_END)
        readme.write_text(text, encoding="utf-8")
        written.append(readme)
    return written


if __name__ == "__main__":
    docs = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    for path in write_docs(docs, docs.parent / "README.md"):
        print(f"wrote {path}")

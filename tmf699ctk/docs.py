"""Regenerate docs/*.md from the code: ``python -m tmf699ctk.docs [DOCS_DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path

from ._docs import rules_markdown


def write_docs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rules.md"
    path.write_text(rules_markdown(), encoding="utf-8")
    return [path]


if __name__ == "__main__":
    for written in write_docs(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(f"wrote {written}")

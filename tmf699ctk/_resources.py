"""Where the kit's bundled data lives, installed or in a source checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Return the bundled ``schemas`` or ``scenarios`` folder.

    A wheel carries them under ``tmf699ctk/_data/``; an editable install or a plain checkout
    reads the repository's top-level folders.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled data folder {name!r} not found next to {_PACKAGE}")


def package_file(name: str) -> Path:
    """A data file shipped inside the package itself (format schemas, templates)."""
    return _PACKAGE / name

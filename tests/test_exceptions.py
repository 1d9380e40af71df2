"""Every exception the kit defines is one it raises (issue 11: defined exceptions are raised, or deleted)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import tmf699ctk
from tmf699ctk import _exceptions


def test_every_defined_exception_is_raised_somewhere() -> None:
    package = Path(tmf699ctk.__file__).parent
    source = "\n".join(p.read_text(encoding="utf-8") for p in package.rglob("*.py") if p.name != "_exceptions.py")
    defined = [name for name, kind in inspect.getmembers(_exceptions, inspect.isclass)
               if issubclass(kind, _exceptions.CtkError) and kind is not _exceptions.CtkError]
    assert len(defined) >= 5
    never = [name for name in defined if not re.search(rf"raise {name}\(", source)]
    assert never == []

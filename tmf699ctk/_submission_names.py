"""File names of the certification deliverables, derived from the company's short name."""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose into ASCII: without these, `Øresund` would lose its first letter.
_LATIN_EXTRA = str.maketrans({
    "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d",
    "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th", "ß": "ss", "\u0131": "i", "Ħ": "H", "ħ": "h",
})
MAX_SHORT = 32


def short_name(company: str | None) -> str:
    """Uppercase ASCII letters and digits of a company name, transliterated: `Télécom Ä` -> `TELECOMA`.

    Empty when nothing transliterates (a name in another script needs `report.company_short`).
    """
    if not company:
        return ""
    decomposed = unicodedata.normalize("NFKD", company.translate(_LATIN_EXTRA))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in stripped.upper() if c.isascii() and c.isalnum())[:MAX_SHORT]


def company_short(metadata: dict[str, str | None]) -> str:
    """The short name a run's files carry: `report.company_short`, else derived from the company."""
    # re-filtered even when configured: results.json may come from anywhere and names a file
    return short_name(metadata.get("company_short")) or short_name(metadata.get("company"))


def deliverable_name(metadata: dict[str, str | None], api_version: str, suffix: str) -> str:
    """``ACME-TMF699-v4.0.0-<suffix>``; without a company, ``TMF699-v4.0.0-<suffix>``."""
    short = company_short(metadata)
    version = re.sub(r"[^0-9A-Za-z.]", "", api_version)
    return f"{short + '-' if short else ''}TMF699-v{version}-{suffix}"

from pathlib import Path

from tmf699ctk._docs import rules_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_rule_catalogue_in_docs_is_current() -> None:
    assert (DOCS / "rules.md").read_text() == rules_markdown(), "run: python -m tmf699ctk.docs"

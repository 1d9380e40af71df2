import json
import subprocess
import sys
from pathlib import Path

import pytest

from tmf699ctk._schemas import SchemaStore

ROOT = Path(__file__).resolve().parents[1]
VALID_LEAD = {
    "id": "42", "href": "http://x/salesLead/42", "name": "n", "status": "acknowledged",
    "creationDate": "2026-11-26T10:00:00Z", "statusChangeDate": "2026-11-26T10:00:00.123+01:00",
    "relatedParty": [{"id": "p1", "@referredType": "Individual"}], "priority": "low",
}


def test_a_valid_lead_has_no_errors(schemas: SchemaStore) -> None:
    assert schemas.errors("SalesLead", VALID_LEAD) == []


def test_a_non_rfc3339_creation_date_fails_format_checking(schemas: SchemaStore) -> None:
    errors = schemas.errors("SalesLead", {**VALID_LEAD, "creationDate": "26/11/2026 10:00"})
    assert errors == ["$.creationDate: '26/11/2026 10:00' is not a valid date-time"]


def test_a_date_time_without_offset_fails(schemas: SchemaStore) -> None:
    assert schemas.errors("SalesLead", {**VALID_LEAD, "creationDate": "2026-11-26T10:00:00"})


def test_enum_violation_names_the_path_and_the_allowed_values(schemas: SchemaStore) -> None:
    (error,) = schemas.errors("SalesLead", {**VALID_LEAD, "status": "ACKNOWLEDGED"})
    assert error.startswith("$.status: 'ACKNOWLEDGED' is not one of ['accepted', 'acknowledged'")


def test_refs_are_resolved_across_files(schemas: SchemaStore) -> None:
    errors = schemas.errors("SalesLead", {**VALID_LEAD, "relatedParty": [{"name": "no id"}]})
    assert "$.relatedParty[0]: 'id' is a required property" in errors
    assert "$.relatedParty[0]: '@referredType' is a required property" in errors


def test_uri_format_is_checked(schemas: SchemaStore) -> None:
    errors = schemas.errors("SalesLead", {**VALID_LEAD, "@schemaLocation": "not a uri"})
    assert errors == ["$['@schemaLocation']: 'not a uri' is not a valid uri"]


def test_error_requires_code_and_reason(schemas: SchemaStore) -> None:
    assert schemas.errors("Error", {"code": "404"}) == ["$: 'reason' is a required property"]


def test_validators_are_compiled_once(schemas: SchemaStore) -> None:
    assert schemas.validator("SalesLead") is schemas.validator("SalesLead")


def test_unknown_schema_name_is_a_clear_error(schemas: SchemaStore) -> None:
    with pytest.raises(Exception, match="unknown schema 'Nope'"):
        schemas.validator("Nope")


def test_bundled_schemas_are_exactly_what_the_generator_produces(tmp_path: Path) -> None:
    out = tmp_path / "tmf699-v4.0.0"
    subprocess.run([sys.executable, str(ROOT / "scripts/gen_schemas.py"),
                    str(ROOT / "specs/TMF699-Sales-v4.0.0.swagger.json"), str(out)], check=True,
                   capture_output=True)
    bundled = ROOT / "schemas/tmf699-v4.0.0"
    generated = sorted(p.name for p in out.iterdir())
    assert generated == sorted(p.name for p in bundled.iterdir())
    for name in generated:
        assert json.loads((out / name).read_text()) == json.loads((bundled / name).read_text()), name

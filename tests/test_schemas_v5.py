"""TMF699 v5.0.0 schemas: OpenAPI 3.0 meaning (discriminators, views, nullable) on real bodies."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tmf699ctk._apis import api_spec
from tmf699ctk._resources import package_file
from tmf699ctk._schemas import SchemaStore
from tmf699ctk._templating import render

from .specfiles import ROOT, examples, spec_of

V5 = api_spec("5.0.0")
BASE_URL = "http://127.0.0.1:8080/tmf-api/salesManagement/v5"
LEAD_URL = f"{BASE_URL}/salesLead/42"
OPPORTUNITY_URL = f"{BASE_URL}/salesOpportunity/7"
# the globals the runner gives every template, and the lead the opportunity payload refers to
CONTEXT = {"run_id": "r0000001", "base_url": BASE_URL, "lead": {"id": "42", "href": LEAD_URL}}
CONTACT_MEDIUM_TYPES = ["EmailContactMedium", "PhoneContactMedium", "FaxContactMedium",
                        "GeographicAddressContactMedium", "SocialContactMedium"]
# What a full create body leaves out although the _FVO lists it: the server assigns id and href
# (the _RES requires them) and maintains lastUpdate.
NOT_SENT = {"id", "href", "lastUpdate"}
SERVER_VIEW = {"id": "42", "href": LEAD_URL, "creationDate": "2026-11-02T09:30:00Z", "status": "acknowledged",
               "statusChangeDate": "2026-11-02T09:30:00.250+01:00", "lastUpdate": "2026-11-02T09:30:00Z"}


@pytest.fixture(scope="module")
def v5() -> SchemaStore:
    return SchemaStore.load(V5.schemas)


@pytest.fixture(scope="module")
def payloads() -> dict[str, dict[str, Any]]:
    template = yaml.safe_load(package_file(V5.config_template).read_text(encoding="utf-8"))
    return render(template["payloads"], CONTEXT)


def full_lead(payloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(payloads["salesLead"]["full"])


def lead(**extra: Any) -> dict[str, Any]:
    return {"@type": "SalesLead", "name": "n", **extra}


# --- the example payloads of config_template_v5.yaml -------------------------------------------

@pytest.mark.parametrize("resource", list(V5.resources))
@pytest.mark.parametrize("name", ["full", "minimal", "second", "patch", "patch_status"])
def test_each_template_payload_is_valid_against_its_view(
        v5: SchemaStore, payloads: dict[str, dict[str, Any]], resource: str, name: str) -> None:
    spec = V5.resources[resource]
    schema = spec.update_schema if name.startswith("patch") else spec.create_schema
    body = payloads[resource][name]
    assert v5.errors(schema, body) == []
    assert body["@type"] == spec.type_name


@pytest.mark.parametrize("resource", list(V5.resources))
def test_the_full_payload_carries_every_property_of_the_create_view(
        payloads: dict[str, dict[str, Any]], resource: str) -> None:
    spec = V5.resources[resource]
    properties = set(spec_of(V5.version).flat(spec.create_schema)[0])
    assert set(payloads[resource]["full"]) == properties - NOT_SENT


def test_the_full_lead_has_every_contact_medium_and_both_party_kinds(payloads: dict[str, dict[str, Any]]) -> None:
    body = payloads["salesLead"]["full"]
    assert [m["@type"] for m in body["prospectContactMedium"]] == CONTACT_MEDIUM_TYPES
    assert {p["partyOrPartyRole"]["@type"] for p in body["relatedParty"]} == {"PartyRef", "PartyRoleRef"}


def test_the_full_opportunity_refers_to_the_lead_created_before(payloads: dict[str, dict[str, Any]]) -> None:
    (reference,) = payloads["salesOpportunity"]["full"]["salesLead"]
    assert (reference["id"], reference["href"], reference["@type"]) == ("42", LEAD_URL, "SalesLeadRef")


@pytest.mark.parametrize("resource", list(V5.resources))
def test_patches_change_status_only_in_patch_status(payloads: dict[str, dict[str, Any]], resource: str) -> None:
    bodies = payloads[resource]
    assert "status" not in bodies["patch"]
    assert bodies["patch_status"]["status"] in V5.resources[resource].status_enum
    assert all(CONTEXT["run_id"] in bodies[n]["name"] for n in ("full", "minimal", "second"))


# --- valid bodies ----------------------------------------------------------------------------

def test_a_full_lead_as_the_server_returns_it_is_a_valid_response(
        v5: SchemaStore, payloads: dict[str, dict[str, Any]]) -> None:
    assert v5.errors("SalesLead_RES", {**full_lead(payloads), **SERVER_VIEW}) == []


def test_a_full_opportunity_as_the_server_returns_it_is_a_valid_response(
        v5: SchemaStore, payloads: dict[str, dict[str, Any]]) -> None:
    body = {**payloads["salesOpportunity"]["full"], **SERVER_VIEW, "href": OPPORTUNITY_URL}
    assert v5.errors("SalesOpportunity_RES", body) == []


@pytest.mark.parametrize("subtype", CONTACT_MEDIUM_TYPES)
def test_a_contact_medium_slot_accepts_each_mapped_subtype(v5: SchemaStore, subtype: str) -> None:
    medium = {"@type": subtype, "preferred": True, "validFor": {"startDateTime": "2026-11-01T00:00:00Z"}}
    assert v5.errors("SalesLead_FVO", lead(prospectContactMedium=[medium])) == []
    assert v5.errors(subtype, medium) == []


def test_events_and_hub_and_error_bodies_are_valid(v5: SchemaStore, payloads: dict[str, dict[str, Any]]) -> None:
    event = {"@type": "SalesLeadCreateEvent", "eventId": "e1", "eventTime": "2026-11-02T09:30:01Z",
             "eventType": "SalesLeadCreateEvent", "event": {"salesLead": {**full_lead(payloads), **SERVER_VIEW}}}
    assert v5.errors("SalesLeadCreateEvent", event) == []
    change = {"@type": "SalesOpportunityStateChangeEvent", "eventId": "e2", "eventTime": "2026-11-02T09:30:02Z",
              "eventType": "SalesOpportunityStateChangeEvent",
              "event": {"salesOpportunity": {"@type": "SalesOpportunity", "id": "7", "status": "accepted"}}}
    assert v5.errors("SalesOpportunityStateChangeEvent", change) == []
    assert v5.errors("Hub", {"@type": "Hub", "id": "h1", "callback": "http://127.0.0.1:9/listener"}) == []
    assert v5.errors("Error", {"@type": "Error", "code": "404", "reason": "Not Found"}) == []


def test_every_example_of_the_spec_is_valid_but_one_it_files_under_the_wrong_listener(v5: SchemaStore) -> None:
    failed = {}
    for where, schema, value in examples(spec_of(V5.version)):
        items = value if schema.startswith("[") else [value]
        if problems := [e for item in items for e in v5.errors(schema.strip("[]"), item)]:
            failed[where] = problems
    # components/examples/AttributeValueChange_request is a SalesOpportunity event, yet
    # requestBodies/SalesLeadAttributeValueChangeEvent uses it as well as the opportunity's.
    assert failed == {
        "POST /listener/salesLeadAttributeValueChangeEvent request application/json AttributeValueChange": [
            "$.event: 'salesLead' is a required property",
            "$['@type']: 'SalesOpportunityAttributeValueChangeEvent' is not one of "
            "['SalesLeadAttributeValueChangeEvent']",
        ]
    }


# --- discriminators --------------------------------------------------------------------------

def test_an_email_contact_medium_is_validated_as_one(v5: SchemaStore) -> None:
    medium = {"@type": "EmailContactMedium", "emailAddress": 42}
    assert v5.errors("SalesLead_FVO", lead(prospectContactMedium=[medium])) == [
        "$.prospectContactMedium[0].emailAddress: 42 is not of type 'string'"]
    # the same attribute means nothing to another subtype: the @type chose the schema
    assert v5.errors("SalesLead_FVO", lead(prospectContactMedium=[{**medium, "@type": "PhoneContactMedium"}])) == []


def test_a_wrong_type_in_a_discriminated_slot_names_the_slot_and_the_allowed_types(v5: SchemaStore) -> None:
    errors = v5.errors("SalesLead_FVO", lead(prospectContactMedium=[{"@type": "PartyRef", "id": "1"}]))
    assert errors == ["$.prospectContactMedium[0]['@type']: 'PartyRef' is not one of ['ContactMedium', "
                      "'EmailContactMedium', 'FaxContactMedium', 'GeographicAddressContactMedium', "
                      "'PhoneContactMedium', 'SocialContactMedium']"]


def test_party_or_party_role_is_chosen_by_its_type_not_by_trying_both(v5: SchemaStore) -> None:
    def related(party: dict[str, Any]) -> dict[str, Any]:
        return lead(relatedParty=[{"@type": "RelatedPartyRefOrPartyRoleRef", "role": "r", "partyOrPartyRole": party}])

    # PartyRef and PartyRoleRef accept the same object shape: a plain oneOf would refuse both
    assert v5.errors("SalesLead_FVO", related({"@type": "PartyRoleRef", "id": "1", "partyId": "p"})) == []
    assert v5.errors("SalesLead_FVO", related({"@type": "EmailContactMedium", "id": "1"})) == [
        "$.relatedParty[0].partyOrPartyRole['@type']: 'EmailContactMedium' is not one of ['PartyRef', 'PartyRoleRef']"]
    assert v5.errors("SalesLead_FVO", related({"@type": "PartyRef"})) == [
        "$.relatedParty[0].partyOrPartyRole: 'id' is a required property"]


def test_the_resource_type_itself_is_checked(v5: SchemaStore) -> None:
    assert v5.errors("SalesLead_FVO", lead(**{"@type": "SalesOpportunity"})) == [
        "$['@type']: 'SalesOpportunity' is not one of ['SalesLead']"]
    assert v5.errors("SalesOpportunity_MVO", {"@type": "SalesLead"}) == [
        "$['@type']: 'SalesLead' is not one of ['SalesOpportunity']"]


def test_an_extension_naming_a_mapped_base_type_is_validated_as_that_type(v5: SchemaStore) -> None:
    medium = {"@type": "AcmeEmailContactMedium", "@baseType": "EmailContactMedium", "emailAddress": "a@b.example"}
    assert v5.errors("SalesLead_FVO", lead(prospectContactMedium=[medium])) == []
    assert v5.errors("SalesLead_FVO", lead(prospectContactMedium=[{**medium, "emailAddress": 1}])) == [
        "$.prospectContactMedium[0].emailAddress: 1 is not of type 'string'"]
    # a base type outside the mapping does not make the unknown @type acceptable
    (error,) = v5.errors("SalesLead_FVO", lead(prospectContactMedium=[{**medium, "@baseType": "Party"}]))
    assert error.startswith("$.prospectContactMedium[0]['@type']: 'AcmeEmailContactMedium' is not one of")


def test_each_problem_is_reported_once_though_parent_and_subtype_both_check_it(v5: SchemaStore) -> None:
    medium = {"@type": "EmailContactMedium", "preferred": "yes"}
    assert v5.errors("SalesLead_FVO", lead(prospectContactMedium=[medium])) == [
        "$.prospectContactMedium[0].preferred: 'yes' is not of type 'boolean'"]


# --- required @type, views, nullable, formats ------------------------------------------------

def test_missing_type_is_an_error_on_requests_responses_and_nested_objects(v5: SchemaStore) -> None:
    assert v5.errors("SalesLead_FVO", {"name": "n"}) == ["$: '@type' is a required property"]
    assert v5.errors("SalesLead_MVO", {"priority": "low"}) == ["$: '@type' is a required property"]
    assert v5.errors("SalesLead_RES", {"id": "1", "href": LEAD_URL, "name": "n"}) == [
        "$: '@type' is a required property"]
    assert v5.errors("SalesLead_FVO", lead(note=[{"text": "t"}])) == ["$.note[0]: '@type' is a required property"]


def test_a_response_without_id_and_href_is_not_a_res_view(v5: SchemaStore) -> None:
    assert v5.errors("SalesLead", lead()) == []
    assert v5.errors("SalesLead_RES", lead()) == [
        "$: 'href' is a required property", "$: 'id' is a required property"]
    assert v5.errors("SalesOpportunity_RES", {"@type": "SalesOpportunity", "name": "n", "id": "1"}) == [
        "$: 'href' is a required property"]


def test_null_is_refused_where_the_spec_does_not_say_nullable(v5: SchemaStore) -> None:
    assert v5.errors("SalesLead_FVO", lead(name=None)) == ["$.name: None is not of type 'string'"]
    assert v5.errors("SalesLead_FVO", lead(validFor={"startDateTime": None})) == [
        "$.validFor.startDateTime: None is not of type 'string'"]


def test_a_bad_date_time_in_a_nested_object_names_its_path(
        v5: SchemaStore, payloads: dict[str, dict[str, Any]]) -> None:
    body = full_lead(payloads)
    body["prospectContactMedium"][0]["validFor"]["startDateTime"] = "01/11/2026"
    assert v5.errors("SalesLead_FVO", body) == [
        "$.prospectContactMedium[0].validFor.startDateTime: '01/11/2026' is not a valid date-time"]
    event = {"@type": "SalesLeadDeleteEvent", "eventId": "e", "eventTime": "2026-11-02T09:30:01",
             "eventType": "SalesLeadDeleteEvent", "event": {"salesLead": {"@type": "SalesLead"}}}
    assert v5.errors("SalesLeadDeleteEvent", event) == ["$.eventTime: '2026-11-02T09:30:01' is not a valid date-time"]


def test_uri_format_is_checked_where_the_spec_declares_it(v5: SchemaStore) -> None:
    spec_ref = {"@type": "ProductSpecificationRef", "id": "s",
                "targetProductSchema": {"@type": "X", "@schemaLocation": "not a uri"}}
    assert v5.errors("SalesLead_FVO", lead(productSpecification=[spec_ref])) == [
        "$.productSpecification[0].targetProductSchema['@schemaLocation']: 'not a uri' is not a valid uri"]


def test_an_event_requires_its_identity_and_payload(v5: SchemaStore) -> None:
    errors = v5.errors("SalesOpportunityCreateEvent", {"@type": "SalesOpportunityCreateEvent", "event": {}})
    assert errors == ["$: 'eventId' is a required property", "$: 'eventTime' is a required property",
                      "$: 'eventType' is a required property", "$.event: 'salesOpportunity' is a required property"]


# --- the generator ---------------------------------------------------------------------------

def test_bundled_v5_schemas_are_exactly_what_the_generator_produces(tmp_path: Path) -> None:
    out = tmp_path / V5.schemas
    subprocess.run([sys.executable, str(ROOT / "scripts/gen_schemas.py"),
                    str(ROOT / "specs/TMF699-Sales-v5.0.0.oas.yaml"), str(out)], check=True, capture_output=True)
    bundled = ROOT / "schemas" / V5.schemas
    generated = sorted(p.name for p in out.iterdir())
    assert generated == sorted(p.name for p in bundled.iterdir())
    assert len(generated) == 111  # 110 components and the index
    for name in generated:
        assert (out / name).read_bytes() == (bundled / name).read_bytes(), name


DIALECT = """
openapi: 3.0.3
info: {title: Dialect, version: 0.0.1}
servers: [{url: '{root}/api/v1', variables: {root: {default: 'https://h'}}}]
paths: {}
components:
  schemas:
    Pet:
      type: object
      required: [kind]
      properties:
        kind: {type: string}
        nickname: {type: string, nullable: true}
        size: {type: string, enum: [s, l], nullable: true}
        id: {type: string, readOnly: true}
        secret: {type: string, writeOnly: true}
        age: {type: integer, minimum: 0, exclusiveMinimum: true, example: 3}
      discriminator: {propertyName: kind}
    Cat:
      allOf:
        - $ref: '#/components/schemas/Pet'
        - {type: object, properties: {lives: {type: integer, maximum: 9}}}
    Dog:
      allOf:
        - $ref: '#/components/schemas/Pet'
        - {type: object, properties: {barks: {type: boolean}}}
    Owner:
      type: object
      properties:
        pet: {$ref: '#/components/schemas/Pet'}
        adopted: {$ref: '#/components/schemas/Adoption'}
    Adoption:
      oneOf: [{$ref: '#/components/schemas/Cat'}, {$ref: '#/components/schemas/Dog'}]
      discriminator: {propertyName: kind, mapping: {c: Cat, d: '#/components/schemas/Dog'}}
"""


@pytest.fixture(scope="module")
def dialect_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dialect")
    (folder / "dialect.yaml").write_text(DIALECT)
    subprocess.run([sys.executable, str(ROOT / "scripts/gen_schemas.py"), str(folder / "dialect.yaml"),
                    str(folder / "out")], check=True, capture_output=True)
    return folder / "out"


@pytest.fixture(scope="module")
def dialect(dialect_out: Path) -> SchemaStore:
    return SchemaStore.load("dialect", dialect_out)


def test_nullable_admits_null_but_other_keywords_keep_their_meaning(dialect: SchemaStore) -> None:
    assert dialect.errors("Owner", {"pet": {"kind": "Cat", "nickname": None}}) == []
    assert dialect.errors("Owner", {"pet": {"kind": "Cat", "size": None}}) == [
        "$.pet.size: None is not one of ['s', 'l']"]
    assert dialect.errors("Owner", {"pet": {"kind": "Cat", "lives": None}}) == [
        "$.pet.lives: None is not of type 'integer'"]


def test_implicit_mapping_dispatches_on_component_names(dialect: SchemaStore) -> None:
    assert dialect.errors("Owner", {"pet": {"kind": "Cat", "lives": 10}}) == [
        "$.pet.lives: 10 is greater than the maximum of 9"]
    assert dialect.errors("Owner", {"pet": {"kind": "Dog", "lives": 10}}) == []
    assert dialect.errors("Owner", {"pet": {"kind": "Cow"}}) == [
        "$.pet.kind: 'Cow' is not one of ['Pet', 'Cat', 'Dog']"]


def test_an_explicit_mapping_names_schemas_by_reference_or_by_name(dialect: SchemaStore) -> None:
    assert dialect.errors("Owner", {"adopted": {"kind": "c", "lives": 10}}) == [
        "$.adopted.lives: 10 is greater than the maximum of 9"]
    assert dialect.errors("Owner", {"adopted": {"kind": "d", "barks": "no"}}) == [
        "$.adopted.barks: 'no' is not of type 'boolean'"]
    assert dialect.errors("Owner", {"adopted": {"kind": "Cat"}}) == ["$.adopted.kind: 'Cat' is not one of ['c', 'd']"]


def test_oas30_keywords_become_draft_2020_12(dialect: SchemaStore, dialect_out: Path) -> None:
    assert dialect.errors("Owner", {"pet": {"kind": "Pet", "age": 0}}) == [
        "$.pet.age: 0 is less than or equal to the minimum of 0"]
    pet = json.loads((dialect_out / "Pet.schema.json").read_text())
    properties = pet["$defs"]["structure"]["properties"]
    assert properties["id"]["readOnly"] is True and properties["secret"]["writeOnly"] is True
    assert properties["nickname"]["type"] == ["string", "null"] and "nullable" not in properties["nickname"]
    assert properties["age"] == {"type": "integer", "exclusiveMinimum": 0}


def test_the_index_takes_the_base_path_from_the_first_server(dialect_out: Path) -> None:
    index = json.loads((dialect_out / "index.json").read_text())
    assert (index["basePath"], index["definitions"]) == ("/api/v1", ["Adoption", "Cat", "Dog", "Owner", "Pet"])


def test_an_unsupported_reference_is_a_clear_generator_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(DIALECT.replace("#/components/schemas/Pet'\n        - {type",
                                                       "other.yaml#/Pet'\n        - {type", 1))
    run = subprocess.run([sys.executable, str(ROOT / "scripts/gen_schemas.py"), str(tmp_path / "bad.yaml"),
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode != 0
    assert "bad.yaml: components/schemas/Cat: unsupported reference 'other.yaml#/Pet'" in run.stderr

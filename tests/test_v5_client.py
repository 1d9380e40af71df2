"""A real third-party client against the v5 reference server: the `tmforum` SDK from PyPI (its
SalesLead and SalesOpportunity models and CRUD helpers, which build v5 payloads themselves).

What the SDK sends is the SDK's reading of the spec, not ours: where the server refuses something,
the test pins down who is right (see the tests named after each finding).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tmf699ctk._schemas import SchemaStore
from tmf699ctk.server import ReferenceServer

tmforum = pytest.importorskip("tmforum")

BASE_PATH = "/tmf-api/salesManagement/v5"  # the SDK builds {api_base_url}/salesManagement/v5/<resource>


@pytest.fixture(scope="module")
def v5_schemas() -> SchemaStore:
    return SchemaStore.load("tmf699-v5.0.0")


@pytest.fixture
def server(v5_schemas: SchemaStore) -> Iterator[ReferenceServer]:
    with ReferenceServer(api_version="5.0.0", schemas=v5_schemas) as running:
        yield running


@pytest.fixture
def context(server: ReferenceServer) -> Any:
    quiet = logging.getLogger("tmf699ctk.tests.tmforum")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    return tmforum.Context(api_base_url=server.state.public_origin + "/tmf-api",
                           headers={"Content-Type": "application/json"}, logger=quiet)


def _lead(name: str) -> Any:
    return tmforum.SalesLead(
        name=name, description="created by the tmforum SDK", priority=tmforum.SalesLeadPriorityType("high"),
        rating="hot", salesLeadType="newBusiness",
        prospectContactMedium=[tmforum.EmailContactMedium(emailAddress="jane@example.com", preferred=True)],
        revenueEstimate=[tmforum.RevenueEstimate(amount=tmforum.Money(unit="EUR", value=1200.0))],
    )


def test_the_sdk_creates_reads_queries_and_deletes_a_lead(server: ReferenceServer, context: Any,
                                                          v5_schemas: SchemaStore) -> None:
    created = _lead("SDK lead").create(context)
    assert isinstance(created, tmforum.SalesLead), created  # the server accepted the SDK's SalesLead_FVO
    assert created.id and created.href.endswith(f"{BASE_PATH}/salesLead/{created.id}")
    stored = server.state.items["salesLead"][created.id]
    assert stored["@type"] == "SalesLead" and stored["prospectContactMedium"][0]["@type"] == "EmailContactMedium"
    assert v5_schemas.errors("SalesLead_RES", stored) == []

    read = tmforum.SalesLead(id=created.id).read(context)
    assert (read.name, read.priority.value, read.revenueEstimate[0].amount.value) == ("SDK lead", "high", 1200.0)
    assert isinstance(read.prospectContactMedium[0], tmforum.EmailContactMedium)  # dispatched on @type

    found = tmforum.SalesLead.query_get("name=SDK lead", context)
    assert [lead.id for lead in found] == [created.id]

    assert created.delete(context) == {}  # 204 No Content
    assert tmforum.SalesLead.from_id(created.id, context) is None
    assert server.state.items["salesLead"] == {}


def test_the_sdk_creates_an_opportunity_referring_to_a_lead(server: ReferenceServer, context: Any) -> None:
    lead = _lead("SDK lead for an opportunity").create(context)
    reference = tmforum.SalesLeadRef(id=lead.id, href=lead.href, name=lead.name)
    opportunity = tmforum.SalesOpportunity(
        name="SDK opportunity", priority=tmforum.SalesLeadPriorityType("medium"), salesLead=[reference],
        salesOpportunityItem=[tmforum.SalesOpportunityItem(id="1", action="add")],
    ).create(context)
    assert isinstance(opportunity, tmforum.SalesOpportunity), opportunity
    assert opportunity.salesLead[0].id == lead.id

    read = tmforum.SalesOpportunity(id=opportunity.id).read(context)
    assert read.salesLead[0].href == lead.href
    assert [o.id for o in tmforum.SalesOpportunity.query_get(f"name={read.name}", context)] == [opportunity.id]
    # the reference resolves: the SDK reads the lead the opportunity names
    assert tmforum.SalesLead.from_id(read.salesLead[0].id, context).name == "SDK lead for an opportunity"

    opportunity.delete(context)
    lead.delete(context)
    assert server.state.items == {"salesLead": {}, "salesOpportunity": {}}


def test_the_sdk_merge_patch_is_accepted_with_its_type(server: ReferenceServer, context: Any) -> None:
    lead = _lead("SDK lead to patch").create(context)
    patched = lead.update({"@type": "SalesLead", "rating": "warm"},
                          tmforum.Context(api_base_url=context.api_base_url, logger=context.logger,
                                          headers={"Content-Type": "application/merge-patch+json"}))
    assert patched.rating == "warm"
    lead.delete(context)


def test_finding_the_sdk_merge_patch_without_type_is_refused_as_the_spec_requires(
        server: ReferenceServer, context: Any) -> None:
    """Finding: `update()` sends the caller's dict as is; a patch without @type is not a valid
    SalesLead_MVO (v5 makes @type required on every body, _MVO included), so the server answers 400
    and the SDK returns the entity unchanged. The server is right; the caller must add @type."""
    lead = _lead("SDK lead, untyped patch").create(context)
    unchanged = lead.update({"rating": "cold"}, context)
    assert unchanged.rating == "hot"
    assert server.state.items["salesLead"][lead.id]["rating"] == "hot"
    lead.delete(context)


def test_what_the_sdk_sends_is_valid_fvo(v5_schemas: SchemaStore) -> None:
    """The SDK's serialisation is valid against the generated _FVO schemas, discriminators included
    (EmailContactMedium carries @baseType ContactMedium, which the mapping accepts)."""
    body = json.loads(_lead("valid?").to_json())
    assert body["prospectContactMedium"][0] == {"@type": "EmailContactMedium", "@baseType": "ContactMedium",
                                                "emailAddress": "jane@example.com", "preferred": True}
    assert v5_schemas.errors("SalesLead_FVO", body) == []

"""Every API-version descriptor, cross-checked against the spec file it was read from."""

from __future__ import annotations

import pytest

from tmf699ctk._apis import API_VERSIONS, EVENT_KINDS, OPERATIONS, ApiSpec, api_spec, version_from_base_url
from tmf699ctk._resources import package_file

from .specfiles import spec_of

APIS = list(API_VERSIONS.values())


def schema_ids(api: ApiSpec) -> list[tuple[str, str]]:
    ids = [("hub_input_schema", api.hub_input_schema), ("hub_schema", api.hub_schema),
           ("error_schema", api.error_schema)]
    if api.json_patch_schema:
        ids.append(("json_patch_schema", api.json_patch_schema))
    for resource in api.resources.values():
        ids += [(f"{resource.name}.{field}", getattr(resource, field))
                for field in ("schema", "create_schema", "update_schema")]
        for event in resource.events.values():
            ids += [(f"{resource.name}.{event.kind}.schema", event.schema),
                    (f"{resource.name}.{event.kind}.payload_schema", event.payload_schema)]
    return ids


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.version)
class TestDescriptorMatchesSpec:
    def test_version_title_description_and_base_path(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        assert (spec.index["version"], spec.index["basePath"].rstrip("/")) == (api.version, api.default_base_path)
        assert spec.doc["info"]["title"] == api.title
        assert spec.doc["info"]["description"] == api.description
        assert spec.index["definitions"]  # the generated folder is the one the descriptor names

    def test_every_named_schema_is_generated(self, api: ApiSpec) -> None:
        names = set(spec_of(api.version).index["definitions"])
        assert [(where, name) for where, name in schema_ids(api) if name not in names] == []

    def test_resource_paths_operations_and_bodies(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        for resource in api.resources.values():
            item = f"{resource.path}/{{id}}"
            assert spec.methods(resource.path) == {"get", "post"}
            assert spec.methods(item) == {"get", "patch", "delete"}
            assert set(spec.bodies(spec.operation(resource.path, "post")).values()) == {resource.create_schema}
            patch = spec.bodies(spec.operation(item, "patch"))
            assert {s for m, s in patch.items() if m not in api.optional_patch_media_types} == {
                resource.update_schema}
            assert {patch[m] for m in api.optional_patch_media_types} <= {api.json_patch_schema}
            for op, expected in [(spec.operation(resource.path, "get"), f"[{resource.schema}]"),
                                 (spec.operation(resource.path, "post"), resource.schema),
                                 (spec.operation(item, "get"), resource.schema),
                                 (spec.operation(item, "patch"), resource.schema)]:
                assert {s for s in spec.responses(op).values() if s and "Error" not in s} == {expected}

    def test_success_statuses_per_operation(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        assert tuple(api.success_statuses) == OPERATIONS
        for resource in api.resources.values():
            item = f"{resource.path}/{{id}}"
            found = {"list": spec.success(spec.operation(resource.path, "get")),
                     "create": spec.success(spec.operation(resource.path, "post")),
                     "retrieve": spec.success(spec.operation(item, "get")),
                     "patch": spec.success(spec.operation(item, "patch")),
                     "delete": spec.success(spec.operation(item, "delete"))}
            assert found == dict(api.success_statuses), resource.name

    def test_query_parameters(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        for resource in api.resources.values():
            item = f"{resource.path}/{{id}}"
            assert spec.params(spec.operation(resource.path, "get")) == api.list_params
            assert spec.params(spec.operation(resource.path, "post")) == api.write_params
            assert spec.params(spec.operation(item, "patch")) == api.write_params
            assert spec.params(spec.operation(item, "get")) == ("fields",)

    def test_media_types(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        for resource in api.resources.values():
            assert spec.media_types(spec.operation(resource.path, "get")) == {api.media_type}
            patch = set(spec.bodies(spec.operation(f"{resource.path}/{{id}}", "patch")))
            if spec.oas3:
                assert patch == set(api.patch_media_types) | set(api.optional_patch_media_types)
            else:
                # Swagger 2.0 declares only JSON; the merge-patch flavour comes from TMF630
                assert {m.split(";")[0] for m in patch} <= set(api.patch_media_types)

    def test_events_and_listeners(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        listeners = {p for p in spec.doc["paths"] if p.startswith("/listener/")}
        events = [e for r in api.resources.values() for e in r.events.values()]
        assert {e.listener for e in events} == listeners
        for resource in api.resources.values():
            assert tuple(resource.events) == EVENT_KINDS
            for event in resource.events.values():
                op = spec.operation(event.listener, "post")
                assert set(spec.bodies(op).values()) == {event.schema}
                assert spec.success(op) == (api.listener_status,)
                properties, required = spec.flat(event.schema)
                payload = spec.ref(properties["event"])
                assert spec.ref(spec.flat(payload)[0][resource.event_payload_key]) == event.payload_schema
                if spec.oas3:
                    assert {"eventId", "eventTime", "eventType", "event", "@type"} <= required
                    assert spec.mapping(event.schema) == {event.type}

    def test_hub(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        create = spec.operation("/hub", "post")
        assert set(spec.bodies(create).values()) == {api.hub_input_schema}
        assert spec.responses(create)["201"] == api.hub_schema
        ops = {"get": "retrieve", "delete": "delete"}
        assert {"create"} | {ops[m] for m in spec.methods("/hub/{id}")} == set(api.hub_operations)

    def test_error_schema(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        for resource in api.resources.values():
            assert spec.responses(spec.operation(resource.path, "post"))["400"] == api.error_schema

    def test_status_enum_and_type(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        for resource in api.resources.values():
            status = spec.flat(resource.schema)[0]["status"]
            assert tuple(spec.defs[spec.ref(status)]["enum"]) == resource.status_enum
            for name in (resource.schema, resource.create_schema, resource.update_schema):
                assert ("@type" in spec.flat(name)[1]) is api.type_required, name
                if spec.oas3:
                    assert spec.mapping(name) == {resource.type_name}, name
            if not spec.oas3:
                assert resource.type_name == resource.schema

    def test_read_only_and_server_set_are_what_the_views_leave_out(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        addressing = {"id", "href"}  # v5 views inherit them from Entity; the server still owns them
        for resource in api.resources.values():
            shown = set(spec.flat(resource.schema)[0])
            created = set(spec.flat(resource.create_schema)[0])
            updated = set(spec.flat(resource.update_schema)[0])
            assert set(resource.server_set) - addressing == shown - created - addressing
            assert set(resource.read_only) - addressing == shown - updated - addressing
            assert addressing <= set(resource.server_set) & set(resource.read_only)

    def test_references_between_resources(self, api: ApiSpec) -> None:
        spec = spec_of(api.version)
        for resource in api.resources.values():
            properties = spec.flat(resource.schema)[0]
            for attribute, target in resource.references.items():
                assert spec.ref(properties[attribute]).strip("[]") == api.resources[target].type_name + "Ref"

    def test_config_template_is_shipped(self, api: ApiSpec) -> None:
        assert package_file(api.config_template).is_file()


def test_api_spec_names_the_known_versions_when_asked_for_another() -> None:
    with pytest.raises(ValueError, match=r"'6\.0\.0'.*4\.0\.0, 5\.0\.0"):
        api_spec("6.0.0")


@pytest.mark.parametrize(("url", "version"), [
    ("https://host/tmf-api/sales/v4", "4.0.0"),
    ("https://host/tmf-api/sales/v4/", "4.0.0"),
    ("https://host/tmf-api/salesManagement/v5", "5.0.0"),
    ("http://127.0.0.1:8080/tmf-api/salesManagement/v5/?x=1", "5.0.0"),
    ("https://host/tmf-api/salesManagement", None),
    ("https://host/tmf-api/salesManagement/v6", None),
    ("https://host/v5x", None),
    ("", None),
])
def test_version_from_base_url(url: str, version: str | None) -> None:
    assert version_from_base_url(url) == version


def test_descriptors_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        API_VERSIONS["5.0.0"].resources["salesLead"] = None  # type: ignore[index]

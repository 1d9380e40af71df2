"""The compiled validity check answers as jsonschema does: it is only trusted with "valid", so a
"valid" it gives for an instance jsonschema refuses would hide a violation. Here both judge the
bundled payloads of each version, their resource views, and every one-value change of them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tmf699ctk._apis import api_spec
from tmf699ctk._config import check_payload_templates, default_payloads
from tmf699ctk._schemas import SchemaStore, format_checker
from tmf699ctk._validity import NotCompiled, compile_check

VERSIONS = ("4.0.0", "5.0.0")
# what a value is replaced with: each JSON type, the near misses of the type checker (a bool is not a
# number, 1.0 is an integer), strings that fail and pass the formats, empty containers
REPLACEMENTS: tuple[Any, ...] = (None, True, 0, 1.0, 2.5, "x", "", "2026-11-02T09:30:00Z", "2026-11-02 09:30",
                                 "https://x.example/a", "not a uri", [], {}, [{}], {"@type": "x"})
MOMENT = "2026-11-02T09:30:00Z"
SERVER_SET = {"id": "1", "href": "https://api.example.com/tmf-api/x/1", "creationDate": MOMENT,
              "status": "acknowledged", "statusChangeDate": MOMENT, "lastUpdate": MOMENT}


def _store(version: str) -> SchemaStore:
    return SchemaStore.load(api_spec(version).schemas)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, member in items:
        yield (*path, key)
        yield from _paths(member, (*path, key))


def _at(instance: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        instance = instance[key]
    return instance


def _changed(instance: Any, path: tuple[Any, ...], replacement: Any, delete: bool = False) -> Any:
    changed = copy.deepcopy(instance)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(replacement)
    return changed


def _cases(version: str) -> Iterator[tuple[str, Any]]:
    """(schema, instance): each payload, as sent and as a server shows it, then every one-value change."""
    api = api_spec(version)
    bodies = check_payload_templates(default_payloads(api), {"run_id": "r1", "lead": SERVER_SET})
    for resource in api.resources.values():
        for view, body in bodies[resource.name].items():
            schemas = (resource.create_schema,) if view in ("full", "minimal", "second") else (resource.update_schema,)
            originals = [(schema, body, True) for schema in schemas]
            if view == "full":  # the members are the create view's: the top level is what differs
                originals.append((resource.schema, {**body, **SERVER_SET}, False))
            for schema, original, deep in originals:
                yield schema, original
                for n, path in enumerate(p for p in _paths(original) if deep or len(p) == 1):
                    # a replacement per value, taken in turn through the list, and its removal
                    yield schema, _changed(original, path, REPLACEMENTS[n % len(REPLACEMENTS)])
                    if isinstance(_at(original, path), int | float):  # a bool is no number; 2.0 is an integer
                        yield from ((schema, _changed(original, path, v)) for v in (True, 2.0, 2.5))
                    yield schema, _changed(original, path, None, delete=True)
    for whole in (None, 1, "x", [], {}, {"@type": resource.type_name}):
        yield resource.schema, whole


@pytest.mark.parametrize("version", VERSIONS)
def test_every_bundled_schema_compiles(version: str) -> None:
    """A schema that does not compile is validated by jsonschema alone: correct, but at its cost."""
    store = _store(version)
    for name in sorted(store.names):
        uri = store.id_base + name + ".schema.json"
        compile_check(store.registry.contents(uri), store.registry.resolver(uri), format_checker)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_compiled_check_agrees_with_jsonschema(version: str) -> None:
    store = _store(version)
    verdicts = {True: 0, False: 0}
    for schema, instance in _cases(version):
        expected = store.validator(schema).is_valid(instance)
        assert store._valid(schema, instance) is expected, (schema, instance)
        verdicts[expected] += 1
    assert min(verdicts.values()) > 50, verdicts  # both answers were exercised


def test_a_schema_with_a_keyword_it_does_not_cover_is_left_to_jsonschema() -> None:
    store = _store("4.0.0")
    resolver = store.registry.resolver("")
    with pytest.raises(NotCompiled):
        compile_check({"type": "string", "minLength": 2}, resolver, format_checker)
    with pytest.raises(NotCompiled):
        compile_check({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}, resolver,
                      format_checker)


def test_a_recursive_reference_compiles_and_answers_as_jsonschema() -> None:
    uri = "https://tmf699ctk.invalid/node.schema.json"
    node = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": uri, "type": "object",
            "required": ["name"], "properties": {"name": {"type": "string"}, "next": {"$ref": "#"}}}
    registry: Registry = Registry().with_resource(uri, Resource.from_contents(node))
    check = compile_check(node, registry.resolver(uri), format_checker)
    reference = Draft202012Validator(node, registry=registry)
    for instance in ({"name": "a"}, {"name": "a", "next": {"name": "b", "next": {"name": "c"}}},
                     {"name": "a", "next": {"name": "b", "next": {"name": 3}}}, {"name": "a", "next": {}}):
        assert check(instance) is reference.is_valid(instance), instance

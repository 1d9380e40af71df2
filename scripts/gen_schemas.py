#!/usr/bin/env python3
"""Generate standalone JSON Schemas (Draft 2020-12) from a TMF Swagger 2.0 or OpenAPI 3.0 spec.

One file per definition (Swagger ``definitions``, OpenAPI ``components.schemas``), every
internal reference rewritten to the relative reference ``X.schema.json``, so a validator
resolves them through a ``referencing`` registry without any network access. A new spec
version is added as data:

    python scripts/gen_schemas.py specs/TMF699-Sales-v4.0.0.swagger.json schemas/tmf699-v4.0.0
    python scripts/gen_schemas.py specs/TMF699-Sales-v5.0.0.oas.yaml schemas/tmf699-v5.0.0

OpenAPI 3.0 Schema Objects are a dialect of JSON Schema; the output is plain Draft 2020-12 so
that any standard validator (and the kit's ``Draft202012Validator``) gives them OpenAPI meaning:

- ``nullable: true`` next to ``type: T`` becomes ``type: [T, "null"]`` (OAS 3.0.3: the other
  keywords, ``enum`` included, keep their meaning and may still refuse null); without it null
  is refused, as the plain ``type`` already does.
- ``discriminator`` is translated into explicit dispatch. A discriminated schema ``X`` becomes
  ``X.schema.json`` = ``allOf: [$defs/structure, dispatch]``: ``$defs/structure`` is ``X`` as
  written (what subtypes inherit: a ``$ref`` in another component's top-level ``allOf`` points
  there), and the dispatch validates the instance against the schema its ``@type`` maps to. A
  value outside the mapping is refused, unless (TMF630 extension pattern) ``@baseType`` names a
  mapped type, in which case the instance is validated as that base type. With ``oneOf`` /
  ``anyOf`` the dispatch replaces the combination (the discriminator chooses the branch). An
  explicit mapping is authoritative; without one the implicit mapping applies (the schema's own
  name, its ``oneOf``/``anyOf`` branches and the components that inherit it).
- ``readOnly``, ``writeOnly``, ``deprecated`` are Draft 2020-12 annotations and are kept;
  boolean ``exclusiveMinimum``/``exclusiveMaximum`` become the numeric form; ``example``,
  ``xml``, ``externalDocs`` and ``x-*`` extensions are dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ID_BASE = "https://tmf699ctk.invalid/schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Swagger-only keywords that mean nothing (or something else) in JSON Schema.
DROP_KEYS = {"discriminator", "xml", "externalDocs", "example", "readOnly"}
# OpenAPI 3.0 keywords with no JSON Schema meaning; readOnly/writeOnly/deprecated are annotations
# in Draft 2020-12 and stay, discriminator and nullable are translated.
OAS30_DROP_KEYS = {"xml", "externalDocs", "example"}
OAS30_REF_PREFIX = "#/components/schemas/"
STRUCTURE = "structure"
# TMF630 polymorphism: an extension carries its own @type and names the mapped type in @baseType.
EXTENSION_OF = {"@type": "@baseType"}


def convert(node: Any) -> Any:
    """Rewrite a Swagger schema node into JSON Schema, recursively."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROP_KEYS or key.startswith("x-"):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/definitions/"):
            out["$ref"] = value.removeprefix("#/definitions/") + ".schema.json"
        elif key == "properties" and isinstance(value, dict):
            # property names are data, not keywords: never drop or rewrite them
            out[key] = {name: convert(sub) for name, sub in value.items()}
        else:
            out[key] = convert(value)
    return out


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.1 would turn an unquoted date into a datetime; in a spec it is a string."""


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_spec(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    spec = yaml.load(text, Loader=_SpecLoader) if path.suffix in (".yaml", ".yml") else json.loads(text)
    if not isinstance(spec, dict):
        raise SystemExit(f"{path}: not an API description")
    return spec


class OpenApi30:
    """Translate the ``components.schemas`` of one OpenAPI 3.0 document (see the module doc)."""

    def __init__(self, schemas: dict[str, Any], source: str) -> None:
        self.schemas = schemas
        self.source = source
        self.mappings = {name: self._mapping(name, d) for name, d in schemas.items() if "discriminator" in d}

    def fail(self, where: str, problem: str) -> SystemExit:
        return SystemExit(f"{self.source}: components/schemas/{where}: {problem}")

    def ref_name(self, ref: Any, where: str) -> str:
        if not isinstance(ref, str) or not ref.startswith(OAS30_REF_PREFIX):
            raise self.fail(where, f"unsupported reference {ref!r} (only {OAS30_REF_PREFIX}...)")
        name = ref.removeprefix(OAS30_REF_PREFIX)
        if name not in self.schemas:
            raise self.fail(where, f"reference to an undefined schema {name!r}")
        return name

    def _mapping(self, name: str, definition: dict[str, Any]) -> dict[str, str]:
        discriminator = definition["discriminator"]
        if discriminator.get("mapping"):
            # a mapping names a schema by reference or by its bare name
            return {value: ref if ref in self.schemas else self.ref_name(ref, name)
                    for value, ref in discriminator["mapping"].items()}
        branches = [b for key in ("oneOf", "anyOf") for b in definition.get(key, [])]
        implicit = {self.ref_name(b["$ref"], name): None for b in branches if "$ref" in b}
        if not branches:
            implicit[name] = None
        for other, d in self.schemas.items():
            if any(b.get("$ref") == OAS30_REF_PREFIX + name for b in d.get("allOf", [])):
                implicit[other] = None
        return {value: value for value in implicit}

    def ancestors(self, name: str) -> set[str]:
        """The components ``name`` inherits through its top-level ``allOf``, transitively."""
        found: set[str] = set()
        todo = [name]
        while todo:
            for part in self.schemas[todo.pop()].get("allOf", []):
                if "$ref" in part and (parent := self.ref_name(part["$ref"], name)) not in found:
                    found.add(parent)
                    todo.append(parent)
        return found

    def target(self, name: str, value: str) -> str | None:
        """The reference that validates an instance of ``name`` whose discriminator is ``value``.

        None when that schema is already part of ``name``'s own structure.
        """
        seen = [name]
        current = self.mappings[name][value]
        # Follow mappings while the mapped schema is itself discriminated (SalesLead_RES maps
        # "SalesLead" to SalesLead, which maps it to itself): stop at the schema that owns it.
        while current in self.mappings and current not in seen:
            seen.append(current)
            mapped = self.mappings[current].get(value)
            if mapped is None:
                print(f"warning: {name} maps {value!r} to {current}, whose discriminator does not list it",
                      file=sys.stderr)
                break
            current = mapped
        if current == name or current in self.ancestors(name):
            return None
        if current in self.mappings:
            return f"{current}.schema.json#/$defs/{STRUCTURE}"
        return f"{current}.schema.json"

    def convert(self, node: Any, where: str, *, top: bool = False, inherits: bool = False) -> Any:
        """Rewrite an OpenAPI 3.0 Schema Object into Draft 2020-12, recursively.

        ``top``: the node is a component's own schema; ``inherits``: it is an item of that
        schema's ``allOf``, where a ``$ref`` names a parent.
        """
        if isinstance(node, list):
            return [self.convert(item, where) for item in node]
        if not isinstance(node, dict):
            return node
        if "discriminator" in node:
            raise self.fail(where, "a discriminator is only supported on a component's own schema")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in OAS30_DROP_KEYS or key.startswith("x-") or key == "nullable":
                continue
            if key == "$ref":
                name = self.ref_name(value, where)
                # a parent named in allOf is inherited: its structure, never its dispatch
                suffix = f"#/$defs/{STRUCTURE}" if inherits and name in self.mappings else ""
                out["$ref"] = f"{name}.schema.json{suffix}"
            elif key == "properties" and isinstance(value, dict):
                # property names are data, not keywords: never drop or rewrite them
                out[key] = {prop: self.convert(sub, f"{where}/{prop}") for prop, sub in value.items()}
            elif key == "allOf" and top and isinstance(value, list):
                out[key] = [self.convert(part, where, inherits=True) for part in value]
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in node:
                    out[key] = node[bound]
            elif key in ("minimum", "maximum") and node.get(f"exclusive{key.capitalize()}") is True:
                continue
            else:
                out[key] = self.convert(value, where)
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            out["type"] = [node["type"], "null"]
        return out

    def component(self, name: str) -> dict[str, Any]:
        definition = self.schemas[name]
        if name not in self.mappings:
            return self.convert(definition, name, top=True)
        structure = {k: v for k, v in definition.items() if k != "discriminator"}
        if structure.get("oneOf") or structure.get("anyOf"):
            # the discriminator picks the branch: a plain oneOf would also try the others
            structure = {k: v for k, v in structure.items() if k not in ("oneOf", "anyOf")}
        return {
            "$defs": {STRUCTURE: self.convert(structure, name, top=True)},
            "allOf": [{"$ref": f"#/$defs/{STRUCTURE}"}, self.dispatch(name, definition)],
        }

    def dispatch(self, name: str, definition: dict[str, Any]) -> dict[str, Any]:
        prop = definition["discriminator"]["propertyName"]
        values = list(self.mappings[name])
        refs = {v: ref for v in values if (ref := self.target(name, v)) is not None}

        def by(key: str) -> dict[str, Any]:
            if len(values) == 1 and refs:
                return {"$ref": refs[values[0]]}
            branches = [{"if": {"properties": {key: {"const": v}}}, "then": {"$ref": ref}} for v, ref in refs.items()]
            return {"allOf": branches} if branches else {}

        known = {"properties": {prop: {"enum": values}}}
        # OAS 3.0: the discriminator property MUST be present, so an instance without it (nor a
        # @baseType extension) is invalid rather than silently undispatched
        required = {"required": [prop], **known}
        dispatch: dict[str, Any] = {"if": required}
        if then := by(prop):
            dispatch["then"] = then
        base = EXTENSION_OF.get(prop)
        if base is None:
            dispatch["else"] = required
        else:
            # an unknown @type is an extension when @baseType names a mapped type; otherwise the
            # error names @type, the property that is wrong
            extension = {"required": [base], "properties": {base: {"enum": values}}}
            dispatch["else"] = {"if": extension, **({"then": by(base)} if refs else {}), "else": required}
        return dispatch


def swagger2_schemas(spec: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], str | None]:
    return {name: convert(d) for name, d in spec["definitions"].items()}, spec.get("basePath")


def openapi30_schemas(spec: dict[str, Any], source: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    translator = OpenApi30(spec.get("components", {}).get("schemas", {}), source)
    schemas = {name: translator.component(name) for name in translator.schemas}
    return schemas, server_base_path(spec)


def server_base_path(spec: dict[str, Any]) -> str | None:
    """The path of the first server URL, its variables replaced by their defaults."""
    servers = spec.get("servers") or []
    if not servers:
        return None
    url = servers[0].get("url", "")
    for variable, detail in (servers[0].get("variables") or {}).items():
        url = url.replace("{" + variable + "}", str(detail.get("default", "")))
    return urlsplit(url).path or "/"


def generate(spec_path: Path, out_dir: Path) -> list[Path]:
    spec = load_spec(spec_path)
    if spec.get("swagger") == "2.0":
        schemas, base_path = swagger2_schemas(spec)
    elif str(spec.get("openapi", "")).startswith("3.0."):
        schemas, base_path = openapi30_schemas(spec, spec_path.name)
    else:
        raise SystemExit(f"{spec_path}: only Swagger 2.0 and OpenAPI 3.0 specs are supported")
    folder = out_dir.name
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.schema.json"):
        old.unlink()
    written = []
    for name, definition in sorted(schemas.items()):
        schema = {"$schema": DRAFT, "$id": f"{ID_BASE}/{folder}/{name}.schema.json", "title": name}
        schema.update(definition)
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    info = spec.get("info", {})
    index = {
        "api": info.get("title"),
        "version": info.get("version"),
        "basePath": base_path,
        "source": spec_path.name,
        "idBase": f"{ID_BASE}/{folder}/",
        "definitions": sorted(schemas),
    }
    (out_dir / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    written = generate(args.spec, args.out_dir)
    print(f"wrote {len(written)} schemas to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

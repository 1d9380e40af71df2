"""Read-only views of the spec files in specs/, for tests that hold the kit's data against them."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

from tmf699ctk._apis import ApiSpec, api_spec
from tmf699ctk._resources import data_dir

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "scripts/gen_schemas.py")
gen_schemas = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(gen_schemas)  # type: ignore[union-attr]


class Spec:
    """A read-only view of a Swagger 2.0 or OpenAPI 3.0 file: what the descriptor claims."""

    def __init__(self, api: ApiSpec) -> None:
        self.index = json.loads((data_dir("schemas") / api.schemas / "index.json").read_text())
        self.doc = gen_schemas.load_spec(ROOT / "specs" / self.index["source"])
        self.oas3 = "openapi" in self.doc
        self.defs = self.doc["components"]["schemas"] if self.oas3 else self.doc["definitions"]

    def _deref(self, node: dict[str, Any], section: str) -> dict[str, Any]:
        return self.doc["components"][section][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node

    @staticmethod
    def ref(node: dict[str, Any]) -> str:
        """The schema a node names, ``[X]`` for an array of X."""
        if node.get("type") == "array":
            return f"[{Spec.ref(node['items'])}]"
        return node["$ref"].rsplit("/", 1)[-1]

    def operation(self, path: str, method: str) -> dict[str, Any]:
        return self.doc["paths"][path][method]

    def methods(self, path: str) -> set[str]:
        return set(self.doc["paths"].get(path, {})) & {"get", "post", "patch", "delete", "put"}

    def bodies(self, op: dict[str, Any]) -> dict[str, str]:
        """Request media type -> schema name."""
        if self.oas3:
            body = self._deref(op["requestBody"], "requestBodies")
            return {media: self.ref(c["schema"]) for media, c in body["content"].items()}
        (param,) = [p for p in op["parameters"] if p["in"] == "body"]
        return {media: self.ref(param["schema"]) for media in op.get("consumes", self.doc["consumes"])}

    def params(self, op: dict[str, Any], where: str = "query") -> tuple[str, ...]:
        found = [self._deref(p, "parameters") if self.oas3 else p for p in op.get("parameters", [])]
        return tuple(p["name"] for p in found if p["in"] == where)

    def responses(self, op: dict[str, Any]) -> dict[str, str | None]:
        """Status code -> schema name (None without a body)."""
        out: dict[str, str | None] = {}
        for code, response in op["responses"].items():
            if self.oas3:
                content = self._deref(response, "responses").get("content") or {}
                out[code] = self.ref(next(iter(content.values()))["schema"]) if content else None
            else:
                out[code] = self.ref(response["schema"]) if "schema" in response else None
        return out

    def media_types(self, op: dict[str, Any]) -> set[str]:
        if not self.oas3:
            return set(op.get("produces", self.doc["produces"]))
        return {m for r in op["responses"].values() for m in (self._deref(r, "responses").get("content") or {})}

    def success(self, op: dict[str, Any]) -> tuple[int, ...]:
        return tuple(sorted(int(code) for code in op["responses"] if code.startswith("2")))

    def flat(self, name: str) -> tuple[dict[str, Any], set[str]]:
        """Properties and required names of a definition, through its allOf chain."""
        definition = self.defs[name]
        properties, required = {}, set(definition.get("required", []))
        for part in definition.get("allOf", []):
            sub_properties, sub_required = self.flat(self.ref(part)) if "$ref" in part else (
                part.get("properties", {}), set(part.get("required", [])))
            properties.update(sub_properties)
            required |= sub_required
        properties.update(definition.get("properties", {}))
        return properties, required

    def mapping(self, name: str) -> set[str]:
        return set(self.defs[name].get("discriminator", {}).get("mapping", {}))


@cache
def spec_of(version: str) -> Spec:
    return Spec(api_spec(version))


def examples(spec: Spec) -> list[tuple[str, str, Any]]:
    """Every request and response example of an OpenAPI 3 file: (where, schema, value)."""
    found = []
    for path, operations in spec.doc["paths"].items():
        for method, op in operations.items():
            media = []
            if "requestBody" in op:
                media += [("request", m) for m in spec._deref(op["requestBody"], "requestBodies")["content"].items()]
            for code, response in op["responses"].items():
                media += [(code, m) for m in (spec._deref(response, "responses").get("content") or {}).items()]
            for where, (media_type, content) in media:
                for name, example in (content.get("examples") or {}).items():
                    value = spec._deref(example, "examples")["value"]
                    found.append((f"{method.upper()} {path} {where} {media_type} {name}", spec.ref(content["schema"]),
                                  value))
    return found

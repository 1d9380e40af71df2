#!/usr/bin/env python3
"""Generate standalone JSON Schemas (Draft 2020-12) from a TMF Swagger 2.0 spec.

One file per definition, ``#/definitions/X`` rewritten to the relative reference
``X.schema.json``, so a validator resolves them through a ``referencing`` registry without
any network access. A new spec version is added as data:

    python scripts/gen_schemas.py specs/TMF699-Sales-v4.0.0.swagger.json schemas/tmf699-v4.0.0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ID_BASE = "https://tmf699ctk.invalid/schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Swagger-only keywords that mean nothing (or something else) in JSON Schema.
DROP_KEYS = {"discriminator", "xml", "externalDocs", "example", "readOnly"}


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


def generate(spec_path: Path, out_dir: Path) -> list[Path]:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    if spec.get("swagger") != "2.0":
        raise SystemExit(f"{spec_path}: only Swagger 2.0 specs are supported")
    folder = out_dir.name
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.schema.json"):
        old.unlink()
    written = []
    for name, definition in sorted(spec["definitions"].items()):
        schema = {"$schema": DRAFT, "$id": f"{ID_BASE}/{folder}/{name}.schema.json", "title": name}
        schema.update(convert(definition))
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    info = spec.get("info", {})
    index = {
        "api": info.get("title"),
        "version": info.get("version"),
        "basePath": spec.get("basePath"),
        "source": spec_path.name,
        "idBase": f"{ID_BASE}/{folder}/",
        "definitions": sorted(spec["definitions"]),
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

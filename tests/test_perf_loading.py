"""Start-up cost (issue 11): the plan reads each input once, and what it skips gives the same result.

Nothing here measures time; each test pins an equivalence or a count that the faster path relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tmf699ctk import _templating
from tmf699ctk._resources import data_dir, package_file
from tmf699ctk._scenarios import canonical_json, load_all, load_scenarios, loaded_canonical_json
from tmf699ctk._templating import names_used, sandbox_refusals


@pytest.mark.parametrize("name", ["config_template.yaml", "config_template_v5.yaml"])
def test_the_shipped_config_templates_read_the_same_with_libyaml(name: str) -> None:
    text = package_file(name).read_text(encoding="utf-8")
    assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader)


def test_the_digest_hashes_each_file_as_a_fresh_parse_gives_it(tmp_path: Path) -> None:
    """The suite digest takes a file's canonical JSON from the scenario loader's own parse: the
    same text as parsing the file again, for every bundled file and for a custom one."""
    custom = tmp_path / "custom.yaml"
    custom.write_text("id: X-1\ntitle: t\nsteps:\n  - name: s\n    request: {method: GET, path: /x}\n"
                      "    expect: [{rule: TMF699-RETRIEVE-01}]\n", encoding="utf-8")
    files = [*sorted(data_dir("scenarios").rglob("*.yaml")), custom]
    for path in files:
        load_all(path)
        fresh = canonical_json(yaml.safe_load(path.read_text(encoding="utf-8")))
        assert loaded_canonical_json(path) == fresh, path
    custom.write_text(custom.read_text(encoding="utf-8").replace("title: t", "title: changed"), encoding="utf-8")
    os.utime(custom, ns=(1, 1))  # another version of the file: the loader's copy is not used for it
    assert loaded_canonical_json(custom) is None


def test_a_plan_parses_each_scenario_file_once() -> None:
    """In a fresh interpreter: building the full plan (its suite digest included) parses every
    bundled file of its API version once, in the scenario loader, and never again for the digest;
    the other version's files (they say so on one line) are not parsed at all."""
    probe = """
import json
from tmf699ctk import _plan, _scenarios
from tmf699ctk._settings import build_settings
parsed = []
original = _scenarios.load_with_lines
_scenarios.load_with_lines = lambda text: parsed.append(text) or original(text)
plan = _plan.build_plan(build_settings({"target.base_url": "http://127.0.0.1:1/tmf-api/sales/v4"}))
print(json.dumps({"parsed": len(parsed), "distinct": len(set(parsed)),
                  "digest_parses": _plan._parsed.cache_info().misses, "complete": plan.scope["complete"]}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout)
    every = list(data_dir("scenarios").rglob("*.yaml"))
    files = len({s.path for s in load_scenarios(api_version="4.0.0")})
    assert 0 < files < len(every)
    assert counts == {"parsed": files, "distinct": files, "digest_parses": 0, "complete": True}


@pytest.mark.parametrize(("text", "refused"), [
    ("x {{ run_id.__class__ }}", "reads the private attribute __class__"),
    ("{{ (1 + 2) ~ payloads.update(a=1) }}", "calls update(), which would modify a value"),
    ("{{ ('a' ~ 'b')|attr('__dict__') }}", "reads the private attribute __dict__"),
    ("{{ ['x'].append(1) }}{{ y }}", "calls append(), which would modify a value"),
])
def test_one_parse_serves_both_analyses_in_either_order(text: str, refused: str) -> None:
    """Names and refusals come from one parse, the refusals read from the tree as parsed (the names'
    analysis runs jinja's constant folding over it), whichever is asked for first."""
    for names_first in (True, False):
        _templating._analysed.cache_clear()
        if names_first:
            names = names_used(text)
        found = sandbox_refusals(text)
        if not names_first:
            names = names_used(text)
        assert any(refused in f for f in found), found
        assert names == set(_templating.meta.find_undeclared_variables(_templating._env.parse(text)))

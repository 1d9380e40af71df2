"""The certification bundle: its manifest, and every kind of tampering `verify` must catch."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tmf699ctk import __version__
from tmf699ctk._exceptions import UsageError
from tmf699ctk._results import RunResult
from tmf699ctk._submission import PARTIAL_BANNER
from tmf699ctk._submission_bundle import MANIFEST, read_run, verify_bundle, write_submission
from tmf699ctk._submission_config import load_submission_inputs

from .conftest import run_suite
from .test_submission import write_config

Files = dict[str, bytes]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[RunResult, Path, Path]:
    """A passing run's submission: (run, results.json, bundle)."""
    folder = tmp_path_factory.mktemp("bundle")
    config = write_config(folder / "cfg")
    run_suite(folder, embedded=True, config_path=config, profile="official")
    results = folder / "report" / "results.json"
    run = read_run(results)
    outcome = write_submission(run, results, load_submission_inputs(config, run.metadata), folder / "out")
    assert outcome.bundle is not None
    return run, results, outcome.bundle


def unpack(bundle: Path) -> tuple[str, Files]:
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        root = names[0].split("/", 1)[0]
        return root, {n.split("/", 1)[1]: archive.read(n) for n in names}


def repack(bundle: Path, target: Path, change: Callable[[Files], None], *, reseal: bool = False,
           root: str | None = None) -> Path:
    """A copy of the bundle with ``change`` applied; ``reseal`` recomputes the manifest's digests too."""
    original_root, files = unpack(bundle)
    change(files)
    if reseal:
        manifest = json.loads(files[MANIFEST])
        manifest["files"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                             for n, d in sorted(files.items()) if n != MANIFEST}
        files[MANIFEST] = json.dumps(manifest, indent=2).encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"{root or original_root}/{name}", data)
    return target


def name_ending(files: Files, suffix: str) -> str:
    return next(n for n in files if n.endswith(suffix))


def test_the_bundle_holds_documents_report_results_and_a_manifest(built) -> None:
    run, results, bundle = built
    assert bundle.name == "ACMETELCO-TMF699-v4.0.0-certification.zip"
    root, files = unpack(bundle)
    assert root == "ACMETELCO-TMF699-v4.0.0-certification"
    assert set(files) == {MANIFEST, "results.json", "ACMETELCO-TMF699-v4.0.0-HTMLReport.html",
                          "ACMETELCO-TMF699-v4.0.0-Conformance.html", "ACMETELCO-TMF699-v4.0.0-Conformance.md",
                          "ACMETELCO-TMF699-v4.0.0-Conformance.docx", "ACMETELCO-TMF699-v4.0.0-Architecture.svg"}
    assert files["results.json"] == results.read_bytes()
    manifest = json.loads(files[MANIFEST])
    assert manifest["kit"] == {"name": "tmf699ctk", "version": __version__}
    assert set(manifest["files"]) == set(files) - {MANIFEST}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
    assert manifest["claims"]["verdict"] == run.verdict == "PASS"


def test_an_untouched_bundle_is_authentic(built) -> None:
    assert verify_bundle(built[2]) == []


def test_the_same_run_gives_the_same_bundle_bytes(built, tmp_path: Path) -> None:
    run, results, bundle = built
    config = write_config(tmp_path / "cfg")
    again = write_submission(run, results, load_submission_inputs(config, run.metadata), tmp_path / "again")
    assert again.bundle is not None and again.bundle.read_bytes() == bundle.read_bytes()


@pytest.mark.parametrize("suffix", ["results.json", "HTMLReport.html", "Conformance.html", "Conformance.md",
                                    "Conformance.docx", "Architecture.svg"])
def test_any_edited_file_is_caught(built, tmp_path: Path, suffix: str) -> None:
    def edit(files: Files) -> None:
        name = name_ending(files, suffix)
        files[name] = files[name].replace(b"ACME", b"ACMF", 1) if b"ACME" in files[name] else files[name] + b" "

    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", edit))
    assert any(p.startswith(name_ending(unpack(built[2])[1], suffix) + " was edited") for p in problems), problems


def test_an_added_file_is_caught(built, tmp_path: Path) -> None:
    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", lambda f: f.update({"extra.pdf": b"%PDF"})))
    assert "extra.pdf is in the bundle but not in the manifest: it was added" in problems


@pytest.mark.parametrize("suffix", ["Conformance.docx", "HTMLReport.html", "results.json"])
def test_a_removed_file_is_caught(built, tmp_path: Path, suffix: str) -> None:
    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", lambda f: f.pop(name_ending(f, suffix))))
    assert any("missing from the bundle: it was removed" in p for p in problems), problems


@pytest.mark.parametrize("suffix", ["Conformance.html", "Conformance.md"])
def test_a_text_documents_version_changed_and_resealed_is_caught(built, tmp_path: Path, suffix: str) -> None:
    def bump(files: Files) -> None:
        name = name_ending(files, suffix)
        files[name] = files[name].replace(b"Sales Management V4.0.0", b"Sales Management V5.0.0")

    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", bump, reseal=True))
    name = name_ending(unpack(built[2])[1], suffix)
    assert (f"{name} says api 'TMF699 \u2013 Sales Management V5.0.0', but results.json gives "
            "'TMF699 \u2013 Sales Management V4.0.0'") in problems
    assert f"{name} differs from the document rendered from results.json and the manifest: it was edited" in problems


def _edit_docx(data: bytes, old: bytes, new: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(info, body.replace(old, new) if info.filename == "word/document.xml" else body)
    return out.getvalue()


def test_the_docx_version_changed_and_resealed_is_caught(built, tmp_path: Path) -> None:
    def bump(files: Files) -> None:
        name = name_ending(files, "Conformance.docx")
        files[name] = _edit_docx(files[name], b"Sales Management V4.0.0", b"Sales Management V5.0.0")

    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", bump, reseal=True))
    assert any("Conformance.docx says api 'TMF699 \u2013 Sales Management V5.0.0'" in p for p in problems), problems


def test_a_docx_whose_date_and_verdict_were_changed_is_caught(built, tmp_path: Path) -> None:
    run = built[0]

    def change(files: Files) -> None:
        name = name_ending(files, "Conformance.docx")
        data = _edit_docx(files[name], run.started_at[:10].encode(), b"2001-01-01")
        files[name] = _edit_docx(data, b">PASS<", b">FAIL<")

    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", change, reseal=True))
    assert any(f"says date '2001-01-01', but results.json gives '{run.started_at[:10]}'" in p for p in problems)
    assert any("says verdict 'FAIL', but results.json gives 'PASS'" in p for p in problems), problems


def test_forged_results_resealed_are_caught_by_the_report_and_the_documents(built, tmp_path: Path) -> None:
    def forge(files: Files) -> None:
        data = json.loads(files["results.json"])
        data["metadata"]["release"] = "9.9"
        files["results.json"] = json.dumps(data, indent=2).encode()

    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", forge, reseal=True))
    assert any("differs from the report rendered from" in p or "results.json SHA-256" in p for p in problems)
    assert any("says product 'ACME Sales Hub 4.2', but results.json gives 'ACME Sales Hub 9.9'" in p
               for p in problems), problems


def test_a_manifest_from_another_kit_version_is_named(built, tmp_path: Path) -> None:
    def other(files: Files) -> None:
        manifest = json.loads(files[MANIFEST])
        manifest["kit"]["version"] = "0.0.1"
        files[MANIFEST] = json.dumps(manifest).encode()

    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", other))
    assert problems == [f"the bundle was built by tmf699ctk 0.0.1; checking its documents needs that version "
                        f"(this is {__version__})"]


def test_a_renamed_bundle_folder_and_a_path_escaping_entry_are_caught(built, tmp_path: Path) -> None:
    problems = verify_bundle(repack(built[2], tmp_path / "b.zip", lambda f: None, root="OTHER-TMF699-v4.0.0-x"))
    assert any("the bundle's folder is OTHER-TMF699-v4.0.0-x" in p for p in problems)
    evil = tmp_path / "evil.zip"
    repack(built[2], evil, lambda f: None)
    with zipfile.ZipFile(evil, "a") as archive:
        archive.writestr("ACMETELCO-TMF699-v4.0.0-certification/../../evil.sh", b"echo")
    problems = verify_bundle(evil)
    assert any("unexpected entry" in p and "evil.sh" in p for p in problems), problems


def test_a_file_that_is_not_a_zip_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_text("not a zip")
    with pytest.raises(UsageError, match="is not a readable zip file"):
        verify_bundle(path)


def test_require_pass_refuses_the_bundle_of_a_failing_run_but_writes_the_document(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    run_suite(tmp_path, embedded=True, config_path=config, faults=frozenset({"delete-noop"}))
    results = tmp_path / "report" / "results.json"
    run = read_run(results)
    inputs = load_submission_inputs(config, run.metadata)
    refused = write_submission(run, results, inputs, tmp_path / "strict", require_pass=True)
    assert refused.bundle is None and "the verdict is FAIL" in refused.refused
    assert (tmp_path / "strict" / "ACMETELCO-TMF699-v4.0.0-Conformance.html").is_file()
    assert not list((tmp_path / "strict").glob("*.zip"))
    lenient = write_submission(run, results, inputs, tmp_path / "lenient")
    assert lenient.bundle is not None and verify_bundle(lenient.bundle) == []
    assert json.loads(unpack(lenient.bundle)[1][MANIFEST])["claims"]["verdict"] == "FAIL"


def test_require_pass_refuses_a_partial_run(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    run_suite(tmp_path, embedded=True, config_path=config, profile="official", only=["OFFICIAL-N1"])
    results = tmp_path / "report" / "results.json"
    run = read_run(results)
    outcome = write_submission(run, results, load_submission_inputs(config, run.metadata), tmp_path / "o",
                               require_pass=True)
    assert run.verdict == "PASS" and outcome.bundle is None and PARTIAL_BANNER in outcome.refused


def test_results_from_another_kit_version_are_refused(built, tmp_path: Path) -> None:
    data = json.loads(built[1].read_text())
    data["tool"]["version"] = "0.0.1"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"comes from tmf699ctk 0\.0\.1; its report and documents must be built by"):
        read_run(path)

"""TLS: verification on by default, a custom CA bundle, --insecure; against a real HTTPS server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tmf699ctk.server import ReferenceServer

from .conftest import run_suite

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, str]:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=tmf699ctk test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return {name: str(d / name) for name in ("ca.pem", "server.pem", "server.key")}


@pytest.fixture
def https_server(certificates, schemas):
    with ReferenceServer(tls=(certificates["server.pem"], certificates["server.key"]), schemas=schemas) as server:
        yield server


def test_https_passes_with_the_vendor_ca_bundle(tmp_path: Path, https_server, certificates) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    result = run_suite(tmp_path, base_url=https_server.url, ca_bundle=certificates["ca.pem"],
                       only=["FULL-CREATE", "FULL-DELETE"])
    assert result.verdict == "PASS"


def test_an_untrusted_certificate_is_refused_by_default(tmp_path: Path, https_server) -> None:
    result = run_suite(tmp_path, base_url=https_server.url, only=["FULL-CREATE"])
    assert result.verdict == "FAIL"
    assert "CERTIFICATE_VERIFY_FAILED" in result.unreachable or "certificate verify failed" in result.unreachable


def test_insecure_skips_verification(tmp_path: Path, https_server) -> None:
    result = run_suite(tmp_path, base_url=https_server.url, insecure=True, only=["FULL-CREATE"])
    assert result.verdict == "PASS"

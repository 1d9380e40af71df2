"""Mutual TLS: the reference server requiring a client certificate (``serve --tls-client-ca``), and
the kit presenting one (``--cert/--key``, an encrypted key's passphrase from an environment
variable); certificates are made by the test with ``cryptography``."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tmf699ctk import _pipeline
from tmf699ctk._exceptions import ConfigError, UsageError
from tmf699ctk._results import RunResult
from tmf699ctk._settings import build_settings
from tmf699ctk.server import ReferenceServer

from .cliproc import run_ctk

PASSPHRASE = "Key-Passphrase-for-tests-3319"


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
                 *, ca: bool = False, usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA; a server certificate for 127.0.0.1 and a client certificate signed by it; the client key
    in clear and encrypted; an unrelated key; a client certificate from another CA."""
    d = tmp_path_factory.mktemp("mtls")
    files: dict[str, bytes] = {}

    def key_pem(key: ec.EllipticCurvePrivateKey, passphrase: str | None = None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                      else serialization.NoEncryption())
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    def cert_pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    ca_key, client_key, server_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    files["ca.pem"] = cert_pem(_certificate("tmf699ctk test CA", ca_key, "tmf699ctk test CA", ca_key, ca=True))
    files["server.pem"] = cert_pem(_certificate("127.0.0.1", server_key, "tmf699ctk test CA", ca_key,
                                                usage=ExtendedKeyUsageOID.SERVER_AUTH))
    files["server.key"] = key_pem(server_key)
    files["client.pem"] = cert_pem(_certificate("ctk client", client_key, "tmf699ctk test CA", ca_key,
                                                usage=ExtendedKeyUsageOID.CLIENT_AUTH))
    files["client.key"] = key_pem(client_key)
    files["client-encrypted.key"] = key_pem(client_key, PASSPHRASE)
    files["client-combined.pem"] = files["client.pem"] + files["client.key"]
    files["other.key"] = key_pem(ec.generate_private_key(ec.SECP256R1()))
    files["rogue.pem"] = cert_pem(_certificate("rogue client", rogue_key, "rogue CA", rogue_key,
                                               usage=ExtendedKeyUsageOID.CLIENT_AUTH))
    files["rogue.key"] = key_pem(rogue_key)
    files["not-pem.txt"] = b"this is not a certificate\n"
    for name, data in files.items():
        (d / name).write_bytes(data)
    return {name: str(d / name) for name in files}


@pytest.fixture
def mtls_server(pki, schemas) -> Iterator[ReferenceServer]:
    with ReferenceServer(tls=(pki["server.pem"], pki["server.key"]), tls_client_ca=pki["ca.pem"],
                         schemas=schemas) as server:
        yield server


def settings_for(server_url: str, pki: dict[str, str], tmp_path: Path, env: dict[str, str] | None = None,
                 **target: Any) -> Any:
    cli = {"target.base_url": server_url, "target.ca_bundle": pki["ca.pem"], "output.report_dir": tmp_path / "r",
           "run.only": ["FULL-CREATE", "FULL-DELETE"], "notifications.mode": "off",
           **{f"target.{k}": v for k, v in target.items()}}
    return build_settings(cli, env=env or {})


def run(settings: Any) -> RunResult:
    return RunResult.read(_pipeline.run(settings).outputs.results)


def test_a_run_with_the_client_certificate_passes(tmp_path: Path, mtls_server, pki) -> None:
    assert mtls_server.url.startswith("https://127.0.0.1:")
    result = run(settings_for(mtls_server.url, pki, tmp_path, client_cert=pki["client.pem"],
                              client_key=pki["client.key"]))
    assert result.verdict == "PASS"
    assert len(result.exchanges()) >= 4


def test_a_certificate_file_holding_the_key_too_is_enough(tmp_path: Path, mtls_server, pki) -> None:
    result = run(settings_for(mtls_server.url, pki, tmp_path, client_cert=pki["client-combined.pem"]))
    assert result.verdict == "PASS"


def test_an_encrypted_key_is_opened_with_the_passphrase_from_the_named_variable(tmp_path: Path, mtls_server,
                                                                                pki) -> None:
    settings = settings_for(mtls_server.url, pki, tmp_path, env={"CTK_TEST_KEY_PASS": PASSPHRASE},
                            client_cert=pki["client.pem"], client_key=pki["client-encrypted.key"],
                            client_key_password_env="CTK_TEST_KEY_PASS")
    assert PASSPHRASE not in repr(settings)
    assert settings.redactor.text(f"pass {PASSPHRASE}") == "pass ********"
    assert run(settings).verdict == "PASS"


def test_without_a_client_certificate_the_target_is_unreachable_and_the_remedy_named(tmp_path: Path, mtls_server,
                                                                                    pki) -> None:
    result = run(settings_for(mtls_server.url, pki, tmp_path))
    assert result.verdict == "FAIL" and not any(e.response for e in result.exchanges())
    # TLS 1.3 reports the refusal on the first read, TLS 1.2 while connecting: both are unreachable
    assert result.unreachable is not None
    assert "the server requires a client certificate (TLS alert: certificate required): give --cert FILE " \
           "--key FILE" in result.unreachable


def test_without_a_client_certificate_over_tls_1_2_the_same_is_said(tmp_path: Path, pki, schemas) -> None:
    import ssl

    with ReferenceServer(tls=(pki["server.pem"], pki["server.key"]), tls_client_ca=pki["ca.pem"],
                         schemas=schemas) as server:
        listening = server.httpd.socket
        assert isinstance(listening, ssl.SSLSocket)
        listening.context.maximum_version = ssl.TLSVersion.TLSv1_2  # applies to every connection accepted next
        result = run(settings_for(server.url, pki, tmp_path))
    assert result.unreachable is not None
    assert "the server refused the TLS handshake (TLS alert: handshake failure); if it requires a client " \
           "certificate, give --cert FILE --key FILE" in result.unreachable


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path, mtls_server, pki) -> None:
    result = run(settings_for(mtls_server.url, pki, tmp_path, client_cert=pki["rogue.pem"],
                              client_key=pki["rogue.key"]))
    assert result.verdict == "FAIL" and not any(e.response for e in result.exchanges())
    assert result.unreachable is not None
    assert f"the server refused the client certificate {pki['rogue.pem']} (TLS alert: unknown ca)" \
        in result.unreachable


@pytest.mark.parametrize(("target", "env", "message"), [
    ({"client_cert": "missing.pem"}, {}, "--cert missing.pem: no such file"),
    ({"client_cert": "client.pem", "client_key": "missing.key"}, {}, "--key missing.key: no such file"),
    ({"client_key": "client.key"}, {}, "--key only applies with --cert"),
    ({"client_cert": "client.pem", "client_key": "client-encrypted.key"}, {},
     "the private key is encrypted; name the environment variable holding its passphrase with --key-password-env"),
    ({"client_cert": "client.pem", "client_key": "client-encrypted.key", "client_key_password_env": "CTK_PASS"},
     {"CTK_PASS": "not-the-passphrase"}, "wrong passphrase (from the environment variable CTK_PASS)"),
    ({"client_cert": "client.pem", "client_key": "other.key"}, {}, "does not belong to the certificate in --cert"),
    ({"client_cert": "not-pem.txt", "client_key": "client.key"}, {}, "no PEM certificate in it"),
    ({"client_cert": "client.pem", "client_key": "client.pem"}, {}, "no PEM private key in it"),
])
def test_client_certificate_problems_are_clear_before_anything_is_sent(pki, target: dict[str, str],
                                                                       env: dict[str, str], message: str) -> None:
    resolved = {f"target.{k}": (pki.get(v, v) if k != "client_key_password_env" else v) for k, v in target.items()}
    with pytest.raises((UsageError, ConfigError)) as caught:
        build_settings({"target.base_url": "https://127.0.0.1:9/api", **resolved}, env=env)
    assert message in str(caught.value)
    assert "not-the-passphrase" not in str(caught.value)


def test_an_unset_passphrase_variable_is_named(pki) -> None:
    with pytest.raises(ConfigError, match="--key-password-env CTK_SURELY_UNSET_PASS: that environment variable is "
                                          "not set"):
        build_settings({"target.client_cert": pki["client.pem"], "target.client_key": pki["client-encrypted.key"],
                        "target.client_key_password_env": "CTK_SURELY_UNSET_PASS"}, env={})


def test_a_passphrase_given_instead_of_a_variable_name_is_refused_unechoed(pki) -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings({"target.client_cert": pki["client.pem"],
                        "target.client_key_password_env": "my secret pass!"}, env={})
    assert "name of an environment variable" in str(caught.value) and "my secret" not in str(caught.value)


def test_the_reference_server_needs_https_for_a_client_ca(pki) -> None:
    with pytest.raises(ValueError, match="tls_client_ca needs tls"):
        ReferenceServer(tls_client_ca=pki["ca.pem"])


def test_serve_and_run_from_the_command_line(tmp_path: Path, pki) -> None:
    """What a user types: `serve --tls-client-ca`, then `run --cert --key --key-password-env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMF699CTK_")}
    env.update({"NO_COLOR": "1", "CTK_TEST_KEY_PASS": PASSPHRASE})
    serve = subprocess.Popen([sys.executable, "-m", "tmf699ctk", "serve", "--port", "0",
                              "--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"],
                              "--tls-client-ca", pki["ca.pem"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        url = re.search(r"https://127\.0\.0\.1:\d+/\S+", first)
        assert url and "client certificates signed by" in first, first
        common = ["run", "--base-url", url.group(0).rstrip(","),
                  "--ca-bundle", pki["ca.pem"], "--scenario", "FULL-CREATE", "--notifications", "off"]
        ok = run_ctk([*common, "--cert", pki["client.pem"], "--key", pki["client-encrypted.key"],
                      "--key-password-env", "CTK_TEST_KEY_PASS", "-o", str(tmp_path / "ok")], env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert PASSPHRASE not in ok.stdout + ok.stderr
        refused = run_ctk([*common, "-o", str(tmp_path / "refused")], env=env)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "requires a client certificate" in refused.stdout and "Traceback" not in refused.stderr
        wrong = run_ctk([*common, "--cert", pki["client.pem"], "--key", pki["client-encrypted.key"],
                         "--key-password-env", "CTK_WRONG_PASS", "-o", str(tmp_path / "wrong")],
                        env={**env, "CTK_WRONG_PASS": "wrong-pass-8812"})
        assert wrong.returncode == 2
        assert "wrong passphrase (from the environment variable CTK_WRONG_PASS)" in wrong.stderr
        assert "wrong-pass-8812" not in wrong.stdout + wrong.stderr and "Traceback" not in wrong.stderr
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        if serve.stdout:
            serve.stdout.close()
        if serve.stderr:
            serve.stderr.close()

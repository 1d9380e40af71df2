"""Start-up cost (issue 11): what a `tmf699ctk run` does not need, it does not do or import.

Nothing here measures time (the benchmarks do, on a quiet machine)."""

from __future__ import annotations

import ssl

import httpx

from tmf699ctk._auth import _default_trust


def test_the_default_trust_is_httpx_default_context_read_on_first_use() -> None:
    """verify=True without a CA bundle: the same context httpx builds, its CA bundle read when the
    first TLS connection is made (a plain-HTTP run never parses it)."""
    deferred, reference = _default_trust(), httpx.create_ssl_context(trust_env=False)
    assert ssl.SSLContext.cert_store_stats(deferred)["x509_ca"] == 0  # nothing read yet
    for name in ("protocol", "verify_mode", "check_hostname", "options", "verify_flags", "minimum_version",
                 "maximum_version", "hostname_checks_common_name", "post_handshake_auth", "security_level"):
        assert getattr(deferred, name) == getattr(reference, name), name
    assert deferred.get_ca_certs() == reference.get_ca_certs() != []
    assert deferred.cert_store_stats() == reference.cert_store_stats()

"""The run's HTTP transport: TLS material is loaded only where a TLS connection can happen."""

from __future__ import annotations

import ssl

import pytest

from tmf699ctk._http import build_client
from tmf699ctk._settings import build_settings


def _context(base_url: str, **cli: object) -> ssl.SSLContext:
    settings = build_settings({"target.base_url": base_url, **cli}, env={})
    client = build_client(settings.target)
    try:
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert isinstance(context, ssl.SSLContext)
        return context
    finally:
        client.close()


def test_a_plain_http_target_loads_no_ca_bundle() -> None:
    # the kit sends nothing outside the base URL and follows no redirect: no TLS, nothing to verify
    context = _context("http://127.0.0.1:1/tmf-api/sales/v4")
    assert context.cert_store_stats()["x509_ca"] == 0


@pytest.mark.parametrize(("base_url", "cli"), [
    ("https://127.0.0.1:1/tmf-api/sales/v4", {}),
    ("http://127.0.0.1:1/tmf-api/sales/v4", {"target.proxy": "https://127.0.0.1:2"}),
])
def test_a_target_reached_over_tls_is_verified_against_the_ca_bundle(base_url: str, cli: dict[str, object]) -> None:
    context = _context(base_url, **cli)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.cert_store_stats()["x509_ca"] > 0


def test_an_exchange_sent_while_another_waits_hands_the_deadline_back() -> None:
    """A dropped POST's lookup by name is an exchange inside the POST's: once it is over, the
    POST's own deadline governs the thread's connections again (not none at all)."""
    from tmf699ctk import _http

    with _http._watching(5.0, None) as outer:
        with _http._watching(1.0, None) as inner:
            assert _http._current.watch is inner
        assert _http._current.watch is outer
    assert _http._current.watch is None

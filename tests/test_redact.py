from tmf699ctk._redact import MASK, Redactor


def test_credential_headers_are_masked_by_name() -> None:
    r = Redactor(secret_headers={"x-tenant"})
    masked = dict(r.headers({"Authorization": "Bearer abc", "X-API-Key": "k1234", "Cookie": "s=1",
                             "X-Tenant": "acme", "Accept": "application/json"}))
    assert masked == {"Authorization": MASK, "X-API-Key": MASK, "Cookie": MASK, "X-Tenant": MASK,
                      "Accept": "application/json"}


def test_secret_values_are_masked_wherever_they_appear() -> None:
    r = Redactor()
    r.add_values(["Bearer s3cr3t-token"])
    assert r.text('{"echo": "s3cr3t-token"} and Bearer s3cr3t-token') == f'{{"echo": "{MASK}"}} and {MASK}'


def test_short_values_are_not_treated_as_secrets() -> None:
    r = Redactor()
    r.add_values(["ab"])
    assert r.text("abc") == "abc"

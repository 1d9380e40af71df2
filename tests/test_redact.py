import html
import re
from urllib.parse import quote, quote_plus

import pytest

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


def _escape(c: str) -> str:
    import json

    return json.dumps(c)[1:-1] if ord(c) > 0xFFFF else f"\\u{ord(c):04x}"  # a pair of \\uXXXX beyond the BMP


ENCODERS = {
    "php json_encode (escaped slashes)": lambda s: s.replace("/", "\\/"),
    ".NET System.Text.Json (escaped +)": lambda s: s.replace("+", "\\u002B"),
    "every character escaped, lower case": lambda s: "".join(_escape(c) for c in s),
    "every character escaped, upper case": lambda s: "".join(_escape(c).upper().replace("\\U", "\\u") for c in s),
    "a non-BMP character as a surrogate pair": lambda s: s.replace("😀", "\\ud83d\\ude00"),
}


@pytest.mark.parametrize("encode", ENCODERS.values(), ids=ENCODERS.keys())
def test_secrets_are_masked_in_the_json_escapes_other_encoders_write(encode) -> None:
    """A server echoing the token through PHP's, .NET's or a paranoid encoder must not get it into
    the report, where bodies are pretty-printed (and so unescaped)."""
    import json

    from tmf699ctk._view import pretty_body

    token = "SECRET123/ab+cd==😀"
    r = Redactor()
    r.add_values([f"Bearer {token}"])
    body = '{"code": "401", "reason": "' + encode(f"Bearer {token}") + '", "again": "' + encode(token) + '"}'
    assert json.loads(body)["again"] == token  # the body does carry the secret
    masked = r.text(body)
    assert json.loads(masked) == {"code": "401", "reason": MASK, "again": MASK}
    shown, _ = pretty_body(masked)
    assert "SECRET123" not in shown and MASK in shown


def test_an_escaped_backslash_before_the_text_is_not_taken_for_an_escape() -> None:
    """`\\\\u0041BCDsecret` in JSON is the text '\\u0041BCDsecret', not the secret: left whole, and the
    body stays valid JSON (masking inside an escape used to break it)."""
    import json

    r = Redactor()
    r.add_values(["ABCDsecret"])
    body = '{"note": "path C:\\\\u0041BCDsecret", "echo": "\\u0041BCDsecret"}'
    masked = r.text(body)
    assert json.loads(masked) == {"note": "path C:\\u0041BCDsecret", "echo": MASK}


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


URL_ENCODERS = {
    "quote_plus (a + for the space)": quote_plus,
    ".NET HttpUtility.UrlEncode (+, lowercase hex)": lambda s: _lower_hex(quote_plus(s)),
    "lowercase hex percent-escapes": lambda s: _lower_hex(quote(s, safe="")),
    "an HTML error page": html.escape,
}


@pytest.mark.parametrize("encode", URL_ENCODERS.values(), ids=URL_ENCODERS.keys())
def test_a_password_echoed_url_encoded_or_html_escaped_is_masked(encode) -> None:
    """A gateway echoing the Basic-auth password of a failed login, form- or URL-encoded the way its
    platform does, or in an HTML page, must not carry it into the report."""
    password = "p@ss w/rd+&Q9<"
    r = Redactor()
    r.add_credentials("ctk-user", password)
    echoed = f"login failed for ctk-user with {encode(password)}"
    assert encode(password) != password and password not in echoed  # the echo is the encoded form
    assert r.text(echoed) == f"login failed for ctk-user with {MASK}"

"""OAuth2 client credentials against a real token endpoint and a reference server behind a bearer
guard, both on 127.0.0.1: one token per run, renewal before expiry and once after a 401, clear
errors from the token endpoint, and neither the secret nor a token in any output."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tmf699ctk import _pipeline
from tmf699ctk._auth import OAuth2ClientCredentials
from tmf699ctk._exceptions import ConfigError, TokenEndpointError, UsageError
from tmf699ctk._http import TargetHealth, build_client, send
from tmf699ctk._redact import MASK, Redactor
from tmf699ctk._results import RunResult
from tmf699ctk._settings import OAuth2AuthMethod, OAuth2Settings, Settings, build_settings, effective
from tmf699ctk.server import ReferenceServer

from .cliproc import run_ctk
from .oauth_server import CLIENT_ID, CLIENT_SECRET, BearerGuard, ForwardProxy, TokenServer
from .servers import closed_port_url


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    with TokenServer() as server:
        yield server


@pytest.fixture
def api(schemas) -> Iterator[ReferenceServer]:
    with ReferenceServer(schemas=schemas) as server:
        yield server


def oauth2_options(tokens: TokenServer, **extra: Any) -> dict[str, Any]:
    return {"target.oauth2.token_url": tokens.url, "target.oauth2.client_id": CLIENT_ID,
            "target.oauth2.client_secret": CLIENT_SECRET, **extra}


def run(tmp_path: Path, api: ReferenceServer, tokens: TokenServer, **extra: Any) -> RunResult:
    """A real run through the pipeline the CLI uses; results read back from disk."""
    cli = {"target.base_url": api.url, "output.report_dir": tmp_path / "report",
           "notifications.event_timeout": 2.0, "notifications.quiet_period": 0.3, **oauth2_options(tokens, **extra)}
    finished = _pipeline.run(build_settings(cli, env={}))
    return RunResult.read(finished.outputs.results)


def statuses(result: RunResult) -> list[int]:
    return [e.response.status for e in result.exchanges() if e.response is not None]


# -- settings ---------------------------------------------------------------------------------------


def test_oauth2_settings_come_from_the_config_file_environment_and_command_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("target:\n  oauth2:\n    token_url: https://idp.example/token\n    client_id: from-file\n"
                      '    client_secret: "${CTK_TEST_CLIENT_SECRET}"\n    scope: [sales.read, sales.write]\n'
                      "    auth_method: body\n")
    env = {"CTK_TEST_CLIENT_SECRET": "file-secret-9912", "TMF699CTK_OAUTH2_AUDIENCE": "tmf699-api"}
    os.environ["CTK_TEST_CLIENT_SECRET"] = env["CTK_TEST_CLIENT_SECRET"]  # ${ENV} in the file reads os.environ
    try:
        settings = build_settings({"target.oauth2.client_id": "from-cli"}, env=env, config_path=config)
    finally:
        del os.environ["CTK_TEST_CLIENT_SECRET"]
    oauth2 = settings.target.oauth2
    assert (oauth2.token_url, oauth2.client_id, oauth2.client_secret) == (
        "https://idp.example/token", "from-cli", "file-secret-9912")
    assert (oauth2.scope, oauth2.audience, oauth2.auth_method) == ("sales.read sales.write", "tmf699-api",
                                                                   OAuth2AuthMethod.BODY)
    rows = {key: (env_name, shown, source) for key, env_name, shown, source in effective(settings)}
    assert rows["target.oauth2.client_id"][2] == "command line --oauth2-client-id"
    assert rows["target.oauth2.audience"] == ("TMF699CTK_OAUTH2_AUDIENCE", "tmf699-api",
                                              "environment TMF699CTK_OAUTH2_AUDIENCE")
    assert rows["target.oauth2.client_secret"][1] == MASK
    assert "file-secret-9912" not in settings.redactor.text("echo: file-secret-9912")


def test_a_client_secret_from_the_environment_is_masked_in_every_form() -> None:
    settings = build_settings({"target.oauth2.token_url": "https://idp.example/token",
                               "target.oauth2.client_id": "ctk"},
                              env={"TMF699CTK_OAUTH2_CLIENT_SECRET": "env-secret-4471"})
    import base64

    basic = base64.b64encode(b"ctk:env-secret-4471").decode()
    assert settings.redactor.text(f"env-secret-4471 ctk:env-secret-4471 Basic {basic}").count(MASK) == 3
    assert "env-secret-4471" not in repr(settings)  # the redactor holds it, but does not show it


@pytest.mark.parametrize(("cli", "message"), [
    ({"target.oauth2.client_id": "ctk"}, "--oauth2-client-id: also give --oauth2-token-url"),
    ({"target.oauth2.token_url": "https://idp.example/token", "target.oauth2.client_secret": "s-1234"},
     "also give --oauth2-client-id"),
    ({"target.oauth2.token_url": "https://idp.example/token", "target.oauth2.client_id": "ctk"},
     "also give the client secret: TMF699CTK_OAUTH2_CLIENT_SECRET"),
    ({"target.oauth2.token_url": "https://idp.example/token", "target.oauth2.client_id": "ctk",
      "target.oauth2.client_secret": "s-1234", "target.basic_auth": "ctk:pw-1234"},
     "use either OAuth2 (--oauth2-token-url) or basic auth (--user)"),
    ({"target.oauth2.token_url": "https://idp.example/token", "target.oauth2.client_id": "ctk",
      "target.oauth2.client_secret": "s-1234", "target.headers": ["Authorization: Bearer static-1234"]},
     "or an Authorization header"),
])
def test_incomplete_or_conflicting_oauth2_options_are_named(cli: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_settings(cli, env={})


@pytest.mark.parametrize(("cli", "message"), [
    ({"target.oauth2.auth_method": "jwt"}, "--oauth2-auth-method: must be one of basic, body"),
    ({"target.oauth2.token_url": "idp.example/token"}, "--oauth2-token-url: must be an http(s) URL"),
    ({"target.oauth2.client_secret": "  "}, "--oauth2-client-secret: must not be empty"),
])
def test_invalid_oauth2_values_are_config_errors(cli: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_settings(cli, env={})


# -- a whole run ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["basic", "body"])
def test_one_token_serves_a_whole_concurrent_run(tmp_path: Path, api, tokens, method: str) -> None:
    guard = BearerGuard(tokens).install(api)
    result = run(tmp_path, api, tokens, **{"target.oauth2.auth_method": method, "run.workers": 4,
                                           "target.oauth2.scope": "sales.read sales.write",
                                           "target.oauth2.audience": "https://api.example/tmf699"})
    assert result.verdict == "PASS"
    assert len(tokens.requests) == 1
    request = tokens.requests[0]
    assert (request.client_auth, request.grant_type) == (method, "client_credentials")
    assert (request.scope, request.audience) == ("sales.read sales.write", "https://api.example/tmf699")
    # every request the API received, cleanup included, carried the one token
    assert guard.refused == 0 and guard.accepted >= len(result.exchanges()) > 50
    assert set(guard.authorizations) == {f"Bearer {tokens.issued[0]}"}


def test_a_revoked_token_is_renewed_once_and_the_request_retried(tmp_path: Path, api, tokens) -> None:
    guard = BearerGuard(tokens, revoke_after=5).install(api)
    result = run(tmp_path, api, tokens, **{"run.workers": 1})
    assert result.verdict == "PASS"
    # requests in flight when the token was revoked are each refused once (a scenario may send
    # several at a time); the kit fetches ONE new token for all of them and sends each again
    assert len(tokens.requests) == 2
    assert guard.refused >= 1
    assert 401 not in statuses(result)  # the retry's answer is what the check saw
    first, renewed = guard.authorizations[0], guard.authorizations[-1]
    assert first != renewed and set(guard.authorizations) == {first, renewed}
    # every refusal was of the revoked token (accepted 5 times before), never of the new one
    assert guard.authorizations.count(first) == 5 + guard.refused


def test_a_second_401_is_the_servers_answer_and_no_token_storm_follows(tmp_path: Path, api, tokens) -> None:
    guard = BearerGuard(tokens, refuse_all=True).install(api)
    result = run(tmp_path, api, tokens, **{"run.only": ["FULL-RETRIEVE-UNKNOWN", "FULL-CREATE-VALIDATION"],
                                           "run.workers": 1, "notifications.mode": "off"})
    assert result.verdict == "FAIL"
    assert len(statuses(result)) >= 3 and set(statuses(result)) == {401}
    # the first token, one renewal after the first 401; a fresh token refused too is not renewed again
    assert len(tokens.requests) == 2
    assert guard.refused == len(statuses(result)) + 1  # + the first token's 401


def test_a_token_is_renewed_before_it_expires(api, tokens) -> None:
    """Renewal follows expires_in on the kit's clock (here a hand-moved one), with a margin."""
    tokens.expires_in = 100
    guard = BearerGuard(tokens).install(api)
    now = [1000.0]
    auth = OAuth2ClientCredentials(OAuth2Settings(token_url=tokens.url, client_id=CLIENT_ID,
                                                  client_secret=CLIENT_SECRET),
                                   redactor=Redactor(), origin=api.url, clock=lambda: now[0])
    health = TargetHealth()
    with httpx.Client(auth=auth) as client:
        def get() -> int:
            exchange = send(client, "GET", f"{api.url}/salesLead", health=health)
            assert exchange.response is not None, exchange.error
            return exchange.response.status

        assert get() == 200 and len(tokens.requests) == 1
        now[0] += 89  # 90 % of the lifetime: still the same token
        assert get() == 200 and len(tokens.requests) == 1
        now[0] += 2
        assert get() == 200 and len(tokens.requests) == 2
        now[0] += 50
        assert get() == 200 and len(tokens.requests) == 2
    assert guard.refused == 0 and auth.fetches == 2


@pytest.mark.parametrize("announced", [None, 10**400], ids=["none", "400 digits"])
def test_a_token_without_a_usable_expires_in_is_kept_until_a_401(api, tokens, announced) -> None:
    """No expires_in, or one no clock can reach (a float overflow was an internal error, exit 3, with
    no results): the token is used until the API refuses it."""
    tokens.expires_in = announced
    guard = BearerGuard(tokens).install(api)
    now = [0.0]
    auth = OAuth2ClientCredentials(OAuth2Settings(token_url=tokens.url, client_id=CLIENT_ID,
                                                  client_secret=CLIENT_SECRET),
                                   redactor=Redactor(), origin=api.url, clock=lambda: now[0])
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{api.url}/salesLead").status_code == 200
        now[0] += 10**6
        assert client.get(f"{api.url}/salesLead").status_code == 200
        assert len(tokens.requests) == 1
        tokens.revoke(tokens.issued[0])
        assert client.get(f"{api.url}/salesLead").status_code == 200
    assert len(tokens.requests) == 2 and guard.refused == 1


def test_concurrent_requests_share_one_token_request_and_one_renewal(api, tokens) -> None:
    guard = BearerGuard(tokens).install(api)
    auth = OAuth2ClientCredentials(OAuth2Settings(token_url=tokens.url, client_id=CLIENT_ID,
                                                  client_secret=CLIENT_SECRET),
                                   redactor=Redactor(), origin=api.url)
    answers: list[int] = []

    def burst(client: httpx.Client) -> None:
        barrier = threading.Barrier(12)

        def one() -> None:
            barrier.wait()
            answers.append(client.get(f"{api.url}/salesLead").status_code)

        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with httpx.Client(auth=auth, limits=httpx.Limits(max_connections=12)) as client:
        burst(client)  # no token yet: twelve requests wait for one token request
        assert len(tokens.requests) == 1
        tokens.revoke(tokens.issued[0])
        burst(client)  # every one is refused at first: one renewal serves them all
    assert answers == [200] * 24
    assert len(tokens.requests) == 2 and guard.refused >= 1


def test_the_token_is_sent_only_to_the_targets_origin(api, tokens) -> None:
    """An href naming another host must never receive the bearer token."""
    from http.server import BaseHTTPRequestHandler

    from .servers import http_server

    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    BearerGuard(tokens).install(api)
    settings = build_settings({"target.base_url": api.url, **oauth2_options(tokens)}, env={})
    with http_server(Elsewhere) as other, build_client(settings.target, redactor=settings.redactor) as client:
        assert client.get(f"{api.url}/salesLead").status_code == 200
        assert client.get(other).status_code == 204
    assert seen == [None]


def test_the_proxy_carries_the_token_request_and_every_api_request(tmp_path: Path, api, tokens) -> None:
    guard = BearerGuard(tokens).install(api)
    with ForwardProxy() as proxy:
        result = run(tmp_path, api, tokens, **{"target.proxy": proxy.url, "run.only": ["FULL-CREATE"],
                                               "notifications.mode": "off"})
    assert result.verdict == "PASS"
    assert proxy.urls[0] == tokens.url
    assert len(proxy.urls) == 1 + guard.accepted and all(u.startswith(api.url) for u in proxy.urls[1:])


# -- failures of the token endpoint -----------------------------------------------------------------


@pytest.mark.parametrize(("fail", "message"), [
    ("invalid_client", "answered 401 invalid_client: Client authentication failed (check the client id and secret"),
    ("server_error", "answered 500 Internal Server Error without an OAuth2 token"),
    ("not_json", "answered 200 with a body that is not an OAuth2 token response"),
    ("no_token", "answered 200 without an access_token"),
])
def test_a_token_endpoint_failure_stops_the_run_before_anything_is_sent(api, tokens, fail: str,
                                                                         message: str) -> None:
    tokens.fail = fail
    guard = BearerGuard(tokens).install(api)
    settings = build_settings({"target.base_url": api.url, **oauth2_options(tokens)}, env={})
    with pytest.raises(TokenEndpointError) as caught:
        build_client(settings.target, redactor=settings.redactor)
    assert str(caught.value).startswith(f"OAuth2 token endpoint {tokens.url} ")
    assert message in str(caught.value)
    assert caught.value.exit_code == 3
    assert guard.accepted + guard.refused == 0


def test_a_wrong_secret_is_invalid_client_and_is_never_echoed(api, tokens) -> None:
    settings = build_settings({"target.base_url": api.url,
                               **oauth2_options(tokens, **{"target.oauth2.client_secret": "wrong-secret-1234"})},
                              env={})
    with pytest.raises(TokenEndpointError, match="answered 401 invalid_client") as caught:
        build_client(settings.target, redactor=settings.redactor)
    assert "wrong-secret-1234" not in str(caught.value)


def test_an_unreachable_token_endpoint_is_named() -> None:
    token_url = closed_port_url().replace("/api", "/token")
    settings = build_settings({"target.base_url": "https://api.example/tmf-api/sales/v4",
                               "target.oauth2.token_url": token_url, "target.oauth2.client_id": "ctk",
                               "target.oauth2.client_secret": "s-1234"}, env={})
    with pytest.raises(TokenEndpointError, match=f"OAuth2 token endpoint {token_url} is unreachable: "):
        build_client(settings.target, redactor=settings.redactor)


def test_a_renewal_failing_mid_run_is_recorded_and_the_endpoint_not_asked_again(tmp_path: Path, api,
                                                                                tokens) -> None:
    guard = BearerGuard(tokens, revoke_after=3).install(api)
    original_issue = tokens.issue

    def issue_once() -> str:
        tokens.fail = "invalid_client"  # the client is disabled after its first token
        return original_issue()

    tokens.issue = issue_once  # type: ignore[method-assign]
    result = run(tmp_path, api, tokens, **{"run.workers": 1, "run.only": ["FULL-CREATE", "FULL-LIST"],
                                           "notifications.mode": "off"})
    assert result.verdict == "FAIL"
    errors = [e.error for e in result.exchanges() if e.error]
    assert errors and all("invalid_client" in e and tokens.url in e for e in errors)
    assert len(tokens.requests) == 2  # the failed renewal is not repeated by every later request
    assert guard.accepted == 3


# -- the command line -------------------------------------------------------------------------------


def ctk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TMF699CTK_")}
    environment.update({"NO_COLOR": "1", **(env or {})})
    return run_ctk(args, env=environment)


def test_invalid_client_exits_3_with_the_oauth2_error_and_no_traceback(tmp_path: Path, api, tokens) -> None:
    BearerGuard(tokens).install(api)
    out = ctk("run", "--base-url", api.url, "--oauth2-token-url", tokens.url, "--oauth2-client-id", CLIENT_ID,
              "-o", str(tmp_path / "r"), env={"TMF699CTK_OAUTH2_CLIENT_SECRET": "Wrong-secret-5531"})
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"error: OAuth2 token endpoint {tokens.url} answered 401 invalid_client: Client authentication " \
           "failed" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "Wrong-secret-5531" not in out.stdout + out.stderr


def test_neither_the_secret_nor_a_token_reaches_any_output(tmp_path: Path, api, tokens) -> None:
    """The gateway echoes the token in its 401 bodies: every output must still mask it."""
    guard = BearerGuard(tokens, refuse_all=True).install(api)
    summary = tmp_path / "summary.md"
    report = tmp_path / "r"
    env = {"TMF699CTK_OAUTH2_CLIENT_SECRET": CLIENT_SECRET, "GITHUB_STEP_SUMMARY": str(summary)}
    out = ctk("run", "--base-url", api.url, "--oauth2-token-url", tokens.url, "--oauth2-client-id", CLIENT_ID,
              "--scenario", "FULL-CREATE", "--notifications", "off", "-o", str(report),
              "--junit", str(tmp_path / "junit.xml"), "--markdown", str(tmp_path / "summary-file.md"), env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert len(tokens.issued) == 2 and guard.refused >= 2
    shown = ctk("config", env={**env, "TMF699CTK_OAUTH2_TOKEN_URL": tokens.url, "COLUMNS": "250",
                               "TMF699CTK_OAUTH2_CLIENT_ID": CLIENT_ID})
    secret_row = next(line for line in shown.stdout.splitlines() if "target.oauth2.client_secret" in line)
    assert MASK in secret_row and "environment TMF699CTK_OAUTH2_CLIENT_SECRET" in secret_row
    texts = {"stdout": out.stdout, "stderr": out.stderr, "config": shown.stdout + shown.stderr}
    for path in [*report.rglob("*"), tmp_path / "junit.xml", tmp_path / "summary-file.md", summary]:
        if path.is_file():
            texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    for secret in (CLIENT_SECRET, *tokens.issued):
        leaks = [name for name, text in texts.items() if secret in text]
        assert not leaks, f"{secret[:6]}... leaked into {leaks}"
    # the echo did reach the results, masked: the test would see a leak
    assert f"token {MASK} is not valid for this API" in texts[str(report / "results.json")]


def test_settings_defaults_without_oauth2_send_no_token(tmp_path: Path, api) -> None:
    """Nothing changes for a target without OAuth2: no token endpoint, no Authorization header."""
    settings = Settings()
    assert not settings.target.oauth2.enabled
    with build_client(settings.target) as client:
        assert "Authorization" not in client.build_request("GET", api.url).headers

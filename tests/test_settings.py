"""The precedence table: every option read from each layer, command line > environment > config
file > defaults, and the table itself (README, `config`, the command line) kept in step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tmf699ctk._docs import CONFIG_SPELLING, SETTINGS_BEGIN, SETTINGS_END, run_options, settings_markdown
from tmf699ctk._exceptions import ConfigError, UsageError
from tmf699ctk._resources import package_file
from tmf699ctk._settings import (
    BY_KEY,
    OPTIONS,
    FailOn,
    NotificationMode,
    OAuth2AuthMethod,
    Profile,
    Settings,
    build_settings,
)
from tmf699ctk.cli import CLI_KEYS, settings_from_cli

from .test_cli import ctk
from .test_mtls import PASSPHRASE
from .test_mtls import pki as mtls_pki  # noqa: F401  (a fixture: the certificates for --cert and --key)

README = Path(__file__).resolve().parents[1] / "README.md"


def value_of(settings: Settings, key: str) -> Any:
    if key == "notifications.listen":
        return settings.notifications.listen_host, settings.notifications.listen_port
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def file_entry(key: str, value: Any) -> dict[str, Any]:
    """The config file's spelling of one setting (groups are nested: target: oauth2: scope:)."""
    if key == "notifications.listen":
        host, port = value.split(":")
        return {"notifications": {"listen_host": host, "listen_port": int(port)}}
    entry: Any = value
    for part in reversed(key.split(".")):
        entry = {part: entry}
    return entry


OAUTH2 = {"target.oauth2.token_url": "https://idp.example/token", "target.oauth2.client_id": "ctk",
          "target.oauth2.client_secret": "client-s3cret"}
# key: (config file value or None when the file may not set it, environment text, command-line value,
#       the three values expected from them, extra command-line settings the option needs)
SAMPLES: dict[str, tuple[Any, str, Any, tuple[Any, Any, Any], dict[str, Any]]] = {
    "target.oauth2.token_url": ("https://f.example/token", "https://e.example/token", "https://c.example/token",
                                ("https://f.example/token", "https://e.example/token", "https://c.example/token"),
                                OAUTH2),
    "target.oauth2.client_id": ("f-id", "e-id", "c-id", ("f-id", "e-id", "c-id"), OAUTH2),
    "target.oauth2.client_secret": ("f-secret", "e-secret", "c-secret", ("f-secret", "e-secret", "c-secret"), OAUTH2),
    "target.oauth2.scope": (["a", "b"], "c  d", "e", ("a b", "c d", "e"), OAUTH2),
    "target.oauth2.audience": ("https://f.example", "https://e.example", "https://c.example",
                               ("https://f.example", "https://e.example", "https://c.example"), OAUTH2),
    "target.oauth2.auth_method": ("body", "BASIC", "body", (OAuth2AuthMethod.BODY, OAuth2AuthMethod.BASIC,
                                                           OAuth2AuthMethod.BODY), OAUTH2),
    # certificate files: made by _layers from the test PKI
    "target.client_cert": ("CERT_FILE", "CERT_ENV", "CERT_CLI", ("CERT_FILE", "CERT_ENV", "CERT_CLI"), {}),
    "target.client_key": ("KEY_FILE", "KEY_ENV", "KEY_CLI", ("KEY_FILE", "KEY_ENV", "KEY_CLI"), {}),
    "target.client_key_password_env": ("PASS_FILE", "PASS_ENV", "PASS_CLI", ("PASS_FILE", "PASS_ENV", "PASS_CLI"),
                                       {}),
    "target.base_url": ("http://file.example/v4", "http://env.example/v4/", "http://cli.example/v4",
                        ("http://file.example/v4", "http://env.example/v4", "http://cli.example/v4"), {}),
    "target.api_version": ("4.0.0", "5.0.0", "4.0.0", ("4.0.0", "5.0.0", "4.0.0"), {}),
    "target.basic_auth": ({"username": "f", "password": "fpass"}, "e:epass", "c:cpass",
                          (("f", "fpass"), ("e", "epass"), ("c", "cpass")), {}),
    "target.timeout": (7, "8", 9.5, (7.0, 8.0, 9.5), {}),
    "target.max_body": ("2MiB", "3MiB", "4096", (2 << 20, 3 << 20, 4096), {}),
    "target.verify_tls": (False, "0", False, (False, True, False), {}),
    "target.ca_bundle": ("CA_FILE", "CA_ENV", "CA_CLI", ("CA_FILE", "CA_ENV", "CA_CLI"), {}),
    "target.proxy": ("http://file-proxy:3128", "http://env-proxy:3128", "socks5://cli-proxy:1080",
                     ("http://file-proxy:3128", "http://env-proxy:3128", "socks5://cli-proxy:1080"), {}),
    "run.profile": ("official", "FULL", "official", (Profile.OFFICIAL, Profile.FULL, Profile.OFFICIAL), {}),
    "run.embedded": (None, "true", True, (None, True, True), {}),
    "run.faults": (None, "delete-noop,no-location", ["create-200"],
                   (None, frozenset({"delete-noop", "no-location"}), frozenset({"create-200"})),
                   {"run.embedded": True}),
    "run.scenario_paths": (["f1", "f2"], "e1,e2", ["c1"],
                           ((Path("f1"), Path("f2")), (Path("e1"), Path("e2")), (Path("c1"),)), {}),
    "run.only": (["F-1"], "E-1\nE-2", ["C-1"], (("F-1",), ("E-1", "E-2"), ("C-1",)), {}),
    "run.tags": (["f"], "e", ["c"], (("f",), ("e",), ("c",)), {}),
    "run.workers": (2, "3", 5, (2, 3, 5), {}),
    "run.cleanup_timeout": (1, "2", 3, (1.0, 2.0, 3.0), {}),
    "run.clock_skew": (0, "60", 120, (0.0, 60.0, 120.0), {}),
    "run.max_time": (30, "45.5", 600, (30.0, 45.5, 600.0), {}),
    "run.baseline": (None, "env/results.json", Path("cli/results.json"),
                     (None, Path("env/results.json"), Path("cli/results.json")), {}),
    "run.fail_on": (None, "new", "verdict", (None, FailOn.NEW, FailOn.VERDICT), {"run.baseline": Path("b.json")}),
    "notifications.mode": ("off", "mandatory", "optional",
                           (NotificationMode.OFF, NotificationMode.MANDATORY, NotificationMode.OPTIONAL), {}),
    "notifications.listen": ("127.0.0.1:9001", "127.0.0.2:9002", "localhost:9003",
                             (("127.0.0.1", 9001), ("127.0.0.2", 9002), ("localhost", 9003)), {}),
    "notifications.callback_url": ("http://f.example/cb", "http://e.example/cb", "http://c.example/cb",
                                   ("http://f.example/cb", "http://e.example/cb", "http://c.example/cb"), {}),
    "notifications.event_timeout": (1, "2", 3, (1.0, 2.0, 3.0), {}),
    "notifications.quiet_period": (0, "0.5", 2, (0.0, 0.5, 2.0), {}),
    "output.report_dir": ("f", "e", Path("c"), (Path("f"), Path("e"), Path("c")), {}),
    "output.html": ("f.html", "e.html", Path("c.html"), (Path("f.html"), Path("e.html"), Path("c.html")), {}),
    "output.junit": ("f.xml", "e.xml", Path("c.xml"), (Path("f.xml"), Path("e.xml"), Path("c.xml")), {}),
    "output.markdown": ("f.md", "e.md", Path("c.md"), (Path("f.md"), Path("e.md"), Path("c.md")), {}),
    "output.submission": (None, "yes", True, (None, True, True), {}),
}
# lists that add up across the layers instead of replacing each other
MERGED: dict[str, tuple[Any, str, Any, Any]] = {
    "target.headers": ({"X-File": "f"}, "X-Env: e", ["X-Cli: c"], (("X-File", "f"), ("X-Env", "e"), ("X-Cli", "c"))),
    "target.secret_headers": (["X-F"], "X-E", ["X-C"], frozenset({"x-f", "x-e", "x-c"})),
}


def test_every_option_has_a_precedence_sample() -> None:
    missing = sorted(BY_KEY.keys() - SAMPLES.keys() - MERGED.keys())
    assert not missing, f"add a sample for {missing} to SAMPLES in tests/test_settings.py"


def _layers(tmp_path: Path, key: str, pki: dict[str, str]
            ) -> tuple[Any, str, Any, tuple[Any, Any, Any], dict[str, Any], dict[str, str]]:
    """The sample of ``key``, with the files it names made, and the environment it needs."""
    file_value, env_text, cli_value, expected, extra = SAMPLES[key]
    extra = {k: v for k, v in extra.items() if k != key}
    extra_env: dict[str, str] = {}
    copies = {"target.ca_bundle": pki["ca.pem"], "target.client_cert": pki["client-combined.pem"],
              "target.client_key": pki["client.key"]}
    if key in copies:  # options that must name files that exist (and hold what they must)
        names = [str(tmp_path / f"{layer}-{Path(copies[key]).name}") for layer in ("file", "env", "cli")]
        for name in names:
            shutil.copy(copies[key], name)
        file_value, env_text, cli_value = names
        expected = tuple(names)
    if key == "target.client_key":
        extra["target.client_cert"] = pki["client.pem"]
    if key == "target.client_key_password_env":  # each layer names a variable holding the passphrase
        extra.update({"target.client_cert": pki["client.pem"], "target.client_key": pki["client-encrypted.key"]})
        extra_env = {name: PASSPHRASE for name in expected}
    return file_value, env_text, cli_value, expected, extra, extra_env


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_each_option_comes_from_the_command_line_over_the_environment_over_the_file_over_its_default(
        tmp_path: Path, key: str, request: pytest.FixtureRequest) -> None:
    option = BY_KEY[key]
    pki = request.getfixturevalue("mtls_pki")
    file_value, env_text, cli_value, (from_file, from_env, from_cli), extra, extra_env = _layers(tmp_path, key, pki)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(file_entry(key, file_value) if file_value is not None else {}))
    env = {**extra_env, option.env: env_text}

    default = build_settings({}, env={}, config_path=None)
    assert value_of(default, key) == value_of(Settings(), key) and default.sources[key] == "default"
    if file_value is not None:
        only_file = build_settings(dict(extra), env=extra_env, config_path=config)
        assert value_of(only_file, key) == from_file
        assert only_file.sources[key] == f"config file {config}"
    file_and_env = build_settings(dict(extra), env=env, config_path=config)
    assert value_of(file_and_env, key) == from_env
    assert file_and_env.sources[key] == f"environment {option.env}"
    every_layer = build_settings({**extra, key: cli_value}, env=env, config_path=config)
    assert value_of(every_layer, key) == from_cli
    assert every_layer.sources[key] == f"command line {option.cli}"


@pytest.mark.parametrize("key", sorted(MERGED))
def test_headers_add_up_across_the_layers(tmp_path: Path, key: str) -> None:
    file_value, env_text, cli_value, expected = MERGED[key]
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(file_entry(key, file_value)))
    settings = build_settings({key: cli_value}, env={BY_KEY[key].env: env_text}, config_path=config)
    assert value_of(settings, key) == expected
    assert settings.sources[key] == (f"config file {config} + environment {BY_KEY[key].env} + "
                                     f"command line {BY_KEY[key].cli}")


def test_the_config_file_comes_from_TMF699CTK_CONFIG_unless_given(tmp_path: Path) -> None:
    from_env, given = tmp_path / "env.yaml", tmp_path / "given.yaml"
    from_env.write_text("run:\n  workers: 2\n")
    given.write_text("run:\n  workers: 3\n")
    assert build_settings({}, env={"TMF699CTK_CONFIG": str(from_env)}).run.workers == 2
    assert build_settings({}, env={"TMF699CTK_CONFIG": str(from_env)}, config_path=given).run.workers == 3


def test_options_the_file_may_not_set_are_refused_there_with_their_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("run:\n  profile: full\n  baseline: old/results.json\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3.*baseline"):
        build_settings({}, env={}, config_path=config)


# -- the command line's flags and lists become settings the same way in `run` and `config` --------


def test_a_flag_given_sets_its_value_and_an_absent_flag_leaves_the_lower_layers(monkeypatch) -> None:
    monkeypatch.delenv("TMF699CTK_CONFIG", raising=False)
    monkeypatch.setenv("TMF699CTK_INSECURE", "true")
    assert settings_from_cli(None, insecure=None).target.verify_tls is False  # from the environment
    monkeypatch.setenv("TMF699CTK_INSECURE", "false")
    assert settings_from_cli(None, insecure=None).target.verify_tls is True
    assert settings_from_cli(None, insecure=True).target.verify_tls is False
    assert settings_from_cli(None, embedded=True, fault=["delete-noop,no-location", "create-200"]).run.faults \
        == frozenset({"delete-noop", "no-location", "create-200"})


def test_fail_on_new_needs_a_baseline() -> None:
    with pytest.raises(UsageError, match="--fail-on new needs --baseline"):
        build_settings({"run.fail_on": "new"}, env={})
    with pytest.raises(UsageError, match="--fail-on new needs --baseline"):
        build_settings({}, env={"TMF699CTK_FAIL_ON": "new"})
    assert build_settings({"run.fail_on": "new"}, env={"TMF699CTK_BASELINE": "old.json"}).run.fail_on is FailOn.NEW


def test_every_run_option_is_one_row_of_the_table_with_the_same_shape() -> None:
    params = {p.name: p for p in run_options().values()}
    assert set(params) - {"config"} == set(CLI_KEYS), "map every `run` option to its settings key in CLI_KEYS"
    assert sorted(CLI_KEYS.values()) == sorted(BY_KEY), "every settings option is a `run` option"
    for name, key in CLI_KEYS.items():
        option, param = BY_KEY[key], params[name]
        assert option.cli in param.opts, (key, param.opts)
        assert param.is_flag == (option.flag is not None), f"{option.cli}: flag in OPTIONS and on the command line"
        assert param.multiple == option.repeat, f"{option.cli}: repeatable in OPTIONS and on the command line"


def test_every_option_the_config_file_may_set_is_in_its_schema() -> None:
    schema = json.loads(package_file("config.schema.json").read_text())
    for option in OPTIONS:
        for key in CONFIG_SPELLING.get(option.key, option.key).split(", "):
            *groups, name = key.split(".")
            node = schema
            for group in groups:
                node = node["properties"][group]
            assert (name in node["properties"]) == option.config, key


def test_environment_variable_names_follow_the_option_names_and_are_unique() -> None:
    names = [o.env for o in OPTIONS]
    assert len(set(names)) == len(names) and "TMF699CTK_CONFIG" not in names
    assert all(o.env == "TMF699CTK_" + o.cli[2:].replace("-", "_").upper() for o in OPTIONS)


# -- the README's table and `tmf699ctk config` ---------------------------------------------------------


def test_the_settings_table_in_the_readme_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split(SETTINGS_BEGIN, 1)[1].split(SETTINGS_END, 1)[0]
    assert block == "\n" + settings_markdown(), "run: python -m tmf699ctk.docs"


def test_the_settings_table_has_a_row_per_option_with_its_variable_and_default() -> None:
    rows = settings_markdown().splitlines()[2:]
    assert len(rows) == len(OPTIONS) + 1  # and --config
    row = next(r for r in rows if r.startswith("| `--timeout SECONDS`"))
    assert "`TMF699CTK_TIMEOUT` | `target.timeout` | `10.0` |" in row
    assert "| `--baseline RESULTS` | `TMF699CTK_BASELINE` | (not in the file) | none |" in settings_markdown()


def test_config_takes_every_run_option_and_shows_each_source_with_secrets_masked(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("target:\n  timeout: 7\n  base_url: http://file.example/v4\nrun:\n  workers: 3\n")
    out = ctk("config", "--config", str(config), "--workers", "6", "-H", "X-Api-Key: k3y-from-cli-123",
              "--insecure", "--baseline", "old/results.json", "--fail-on", "new",
              env={"TMF699CTK_TIMEOUT": "8", "TMF699CTK_HEADER": "Authorization: Bearer t0ken-from-env",
                   "COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
            for line in out.stdout.splitlines() if line.startswith("│")}
    assert rows["run.workers"] == ["TMF699CTK_WORKERS", "6", "command line --workers"]
    assert rows["target.timeout"] == ["TMF699CTK_TIMEOUT", "8.0", "environment TMF699CTK_TIMEOUT"]
    assert rows["target.base_url"][1:] == ["http://file.example/v4", f"config file {config}"]
    assert rows["target.verify_tls"][1:] == ["insecure (not verified)", "command line --insecure"]
    assert rows["run.fail_on"][1:] == ["new", "command line --fail-on"]
    assert rows["run.profile"][1:] == ["full", "default"]
    assert rows["target.headers"][2] == "environment TMF699CTK_HEADER + command line --header"
    assert "t0ken-from-env" not in out.stdout and "k3y-from-cli-123" not in out.stdout
    assert f"config file: {config}" in out.stdout


def test_config_reports_what_run_would_refuse_with_exit_2() -> None:
    out = ctk("config", "--fail-on", "new")
    assert out.returncode == 2 and "error: --fail-on new needs --baseline" in out.stderr
    out = ctk("config", "--workers", "0", env={"TMF699CTK_PROFILE": "bogus"})
    assert out.returncode == 2 and "environment TMF699CTK_PROFILE" in out.stderr and "--workers" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_and_run_accept_the_same_options() -> None:
    def options(command: str) -> list[str]:
        text = ctk(command, "--help", env={"COLUMNS": "200"}).stdout
        return sorted(w for line in text.splitlines() for w in line.replace(",", " ").split()
                      if w.startswith("--") and len(w) > 2)

    assert options("config") == options("run") and "--baseline" in options("config")

from pathlib import Path

import pytest
import yaml

from tmf699ctk._apis import V4
from tmf699ctk._config import effective_payloads, template_text, validate_payloads
from tmf699ctk._exceptions import ConfigError, UsageError
from tmf699ctk._settings import (
    OPTIONS,
    NotificationMode,
    Profile,
    Settings,
    build_settings,
    effective,
    setting_value,
)


def load(path: Path, schemas, env: dict | None = None) -> Settings:
    """The config file alone (no environment), payloads validated as a run would."""
    settings = build_settings({}, env=env or {}, config_path=path)
    validate_payloads(effective_payloads(settings.payloads, V4), schemas, settings.config_file, V4)
    return settings


def test_the_template_written_by_init_is_a_valid_config(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(template_text())
    settings = load(path, schemas)
    assert settings.payloads["salesLead"]["full"]["priority"] == "high"


def test_the_template_states_the_built_in_defaults(tmp_path: Path) -> None:
    """What `init` writes must not silently change a setting compared with no config at all."""
    path = tmp_path / "c.yaml"
    path.write_text(template_text())
    from_template, built_in = build_settings({}, env={}, config_path=path), build_settings({}, env={})
    for option in OPTIONS:
        if option.key == "notifications.listen":
            continue
        assert setting_value(from_template, option.key) == setting_value(built_in, option.key), option.key
    assert yaml.safe_load(template_text())["run"]["workers"] == built_in.run.workers


def test_env_vars_are_expanded_and_become_secrets(tmp_path: Path, monkeypatch, schemas) -> None:
    monkeypatch.setenv("CTK_TEST_TOKEN", "tok-12345")
    path = tmp_path / "c.yaml"
    path.write_text('target:\n  headers:\n    X-Custom: "Bearer ${CTK_TEST_TOKEN}"\n')
    settings = load(path, schemas)
    assert dict(settings.target.headers)["X-Custom"] == "Bearer tok-12345"
    assert settings.redactor.text("token tok-12345 leaked") == "token ******** leaked"


def test_an_unset_env_var_is_named(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('target:\n  headers:\n    Authorization: "Bearer ${CTK_SURELY_UNSET_VAR}"\n')
    with pytest.raises(ConfigError, match=r"config.target.headers.Authorization: environment variable "
                                          "CTK_SURELY_UNSET_VAR is not set"):
        load(path, schemas)


def test_an_env_default_is_used(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('report:\n  company: "${CTK_SURELY_UNSET_VAR:-ACME}"\n')
    assert load(path, schemas).report["company"] == "ACME"


def test_an_unknown_key_is_reported_with_its_line(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  timeout: 5\n  base_uri: http://x\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: target: Additional properties are not allowed"):
        load(path, schemas)


def test_every_problem_of_a_config_file_is_listed_with_its_line(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  timeout: -1\n  verify_tls: maybe\nrun:\n  workers: 0\n")
    with pytest.raises(ConfigError) as caught:
        load(path, schemas)
    message = str(caught.value)
    assert "c.yaml:2: target.timeout" in message and "c.yaml:3: target.verify_tls" in message
    assert "c.yaml:5: run.workers" in message and "more problems" not in message


def test_a_config_type_error_never_echoes_a_password(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  basic_auth:\n    username: ctk\n    password: 123456789\n")
    with pytest.raises(ConfigError) as caught:
        load(path, schemas)
    assert "123456789" not in str(caught.value)
    assert "c.yaml:4: target.basic_auth.password: invalid value (not shown" in str(caught.value)


def test_a_payload_that_violates_salesLead_create_is_rejected_before_running(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payloads:\n  salesLead:\n    full:\n      name: x\n      priority: urgent\n")
    with pytest.raises(ConfigError, match=r"payloads.salesLead.full is not a valid SalesLead_Create: "
                                          r"\$.priority: 'urgent' is not one of"):
        load(path, schemas)


def test_a_payload_without_name_is_rejected(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payloads:\n  salesLead:\n    minimal:\n      description: no name\n")
    with pytest.raises(ConfigError, match="'name' is a required property"):
        load(path, schemas)


def test_a_user_payload_replaces_the_default_whole_and_is_recorded(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payloads:\n  salesLead:\n    full:\n      name: only a name\n")
    settings = load(path, schemas)
    assert settings.payloads["salesLead"]["full"] == {"name": "only a name"}
    assert settings.payload_overrides == ("salesLead.full",) and "payloads" in settings.weakening()


def test_invalid_yaml_names_the_line(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  timeout: [1\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML"):
        load(path, schemas)


# -- precedence: command line > environment > config file > defaults ---------------------------------


def test_precedence_command_line_over_environment_over_file_over_default(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  timeout: 7\n  base_url: http://file.example/v4\nrun:\n  workers: 3\n"
                    "notifications:\n  mode: mandatory\n")
    env = {"TMF699CTK_TIMEOUT": "8", "TMF699CTK_WORKERS": "5"}
    settings = build_settings({"run.workers": 6}, env=env, config_path=path)
    assert settings.run.workers == 6 and "command line --workers" in settings.sources["run.workers"]
    assert settings.target.timeout == 8.0 and settings.sources["target.timeout"] == "environment TMF699CTK_TIMEOUT"
    assert settings.target.base_url == "http://file.example/v4"
    assert settings.sources["target.base_url"] == f"config file {path}"
    assert settings.notifications.mode is NotificationMode.MANDATORY
    assert settings.run.profile is Profile.FULL and settings.sources["run.profile"] == "default"


def test_every_run_option_has_an_environment_variable() -> None:
    env = {o.env for o in OPTIONS}
    assert len(env) == len(OPTIONS) and all(name.startswith("TMF699CTK_") for name in env)
    assert {"TMF699CTK_BASE_URL", "TMF699CTK_HEADER", "TMF699CTK_INSECURE", "TMF699CTK_WORKERS"} <= env


def test_environment_values_are_parsed_and_bad_ones_named(tmp_path: Path) -> None:
    settings = build_settings({}, env={"TMF699CTK_HEADER": "X-A: 1\nX-B: 2", "TMF699CTK_INSECURE": "1",
                                       "TMF699CTK_PROFILE": "official", "TMF699CTK_MAX_BODY": "2MiB"})
    assert dict(settings.target.headers) == {"X-A": "1", "X-B": "2"}
    assert settings.target.verify_tls is False and settings.run.profile is Profile.OFFICIAL
    assert settings.target.max_body == 2 << 20
    with pytest.raises(ConfigError) as caught:
        build_settings({}, env={"TMF699CTK_WORKERS": "many", "TMF699CTK_PROFILE": "bogus"})
    assert "environment TMF699CTK_WORKERS" in str(caught.value) and "TMF699CTK_PROFILE" in str(caught.value)


def test_headers_from_every_layer_are_merged_and_secret_values_masked() -> None:
    settings = build_settings({"target.headers": ["Authorization: Bearer cli-token-1"]},
                              env={"TMF699CTK_HEADER": "X-Env: e"})
    assert dict(settings.target.headers) == {"X-Env": "e", "Authorization": "Bearer cli-token-1"}
    assert "cli-token-1" not in settings.redactor.text("echo Bearer cli-token-1")


def test_a_malformed_header_never_echoes_its_value() -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings({"target.headers": ["Authorization=Bearer sekrit-999"]}, env={})
    assert "sekrit-999" not in str(caught.value)


def test_basic_auth_is_masked_in_every_form() -> None:
    settings = build_settings({"target.basic_auth": "ctk:basic-pass-456"}, env={})
    text = settings.redactor.text("ctk:basic-pass-456 Basic Y3RrOmJhc2ljLXBhc3MtNDU2 basic-pass-456")
    assert "basic-pass-456" not in text and "Y3RrOmJhc2ljLXBhc3MtNDU2" not in text


def test_a_password_in_the_base_url_is_masked() -> None:
    settings = build_settings({"target.base_url": "https://ctk:url-secret-77@api.example/v4"}, env={})
    assert "url-secret-77" not in settings.redactor.text("https://ctk:url-secret-77@api.example/v4/salesLead")


def test_a_non_loopback_listener_needs_a_callback_url() -> None:
    with pytest.raises(UsageError, match="not a loopback address"):
        build_settings({"notifications.listen": "0.0.0.0:9000"}, env={})
    with pytest.raises(UsageError, match="unspecified address"):
        build_settings({"notifications.callback_url": "http://0.0.0.0:9000/cb"}, env={})
    assert build_settings({"notifications.listen": "0.0.0.0:9000",
                           "notifications.callback_url": "http://ctk.example:9000/cb"}, env={})


def test_effective_configuration_masks_secrets_and_names_sources() -> None:
    settings = build_settings({"target.headers": ["Authorization: Bearer t0ken-abc"], "target.basic_auth": "u:pw12345"},
                              env={"TMF699CTK_TIMEOUT": "3"})
    rows = {key: (env, value, source) for key, env, value, source in effective(settings)}
    assert rows["target.timeout"] == ("TMF699CTK_TIMEOUT", "3.0", "environment TMF699CTK_TIMEOUT")
    shown = " ".join(v for _, v, _ in rows.values())
    assert "t0ken-abc" not in shown and "pw12345" not in shown and "u:********" in shown

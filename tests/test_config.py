from pathlib import Path

import pytest

from tmf699ctk._config import load_config, template_text
from tmf699ctk._exceptions import ConfigError


def test_the_template_written_by_init_is_a_valid_config(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(template_text())
    config = load_config(path, schemas=schemas)
    assert config.payloads["full"]["priority"] == "high"


def test_env_vars_are_expanded_and_become_secrets(tmp_path: Path, monkeypatch, schemas) -> None:
    monkeypatch.setenv("CTK_TEST_TOKEN", "tok-12345")
    path = tmp_path / "c.yaml"
    path.write_text('target:\n  headers:\n    X-Custom: "Bearer ${CTK_TEST_TOKEN}"\n')
    config = load_config(path, schemas=schemas)
    assert config.target.headers["X-Custom"] == "Bearer tok-12345"
    assert config.redactor.text("token tok-12345 leaked") == "token ******** leaked"


def test_an_unset_env_var_is_named(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('target:\n  headers:\n    Authorization: "Bearer ${CTK_SURELY_UNSET_VAR}"\n')
    with pytest.raises(ConfigError, match=r"config.target.headers.Authorization: environment variable "
                                          "CTK_SURELY_UNSET_VAR is not set"):
        load_config(path, schemas=schemas)


def test_an_env_default_is_used(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('report:\n  company: "${CTK_SURELY_UNSET_VAR:-ACME}"\n')
    assert load_config(path, schemas=schemas).report["company"] == "ACME"


def test_an_unknown_key_is_reported_with_its_line(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  timeout: 5\n  base_uri: http://x\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: target: Additional properties are not allowed"):
        load_config(path, schemas=schemas)


def test_a_payload_that_violates_salesLead_create_is_rejected_before_running(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payloads:\n  salesLead:\n    full:\n      name: x\n      priority: urgent\n")
    with pytest.raises(ConfigError, match=r"payloads.salesLead.full is not a valid SalesLead_Create: "
                                          r"\$.priority: 'urgent' is not one of"):
        load_config(path, schemas=schemas)


def test_a_payload_without_name_is_rejected(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payloads:\n  salesLead:\n    minimal:\n      description: no name\n")
    with pytest.raises(ConfigError, match="'name' is a required property"):
        load_config(path, schemas=schemas)


def test_a_user_payload_replaces_the_default_whole(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("payloads:\n  salesLead:\n    full:\n      name: only a name\n")
    assert load_config(path, schemas=schemas).payloads["full"] == {"name": "only a name"}


def test_invalid_yaml_names_the_line(tmp_path: Path, schemas) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("target:\n  timeout: [1\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML"):
        load_config(path, schemas=schemas)

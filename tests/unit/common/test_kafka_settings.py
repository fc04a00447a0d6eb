"""Kafka security settings: checked at load, credentials resolved with one clear line."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError, Settings
from services.common.kafka import client_config


def test_a_service_defaults_to_its_own_principal_and_local_password(tmp_path):
    users = tmp_path / "kafka" / "users"
    users.mkdir(parents=True)
    (users / "notify.password").write_text("s3cret\n")
    settings = Settings.from_env({"SERVICE_NAME": "notify", "DOITHOAI_VAR": str(tmp_path)})
    config = client_config(settings)
    assert config["security_protocol"] == "SASL_PLAINTEXT"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("notify", "s3cret")


def test_password_from_the_environment_or_a_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file")
    by_env = Settings.from_env({"KAFKA_USERNAME": "agency-x", "KAFKA_PASSWORD": "p"})
    by_file = Settings.from_env({"KAFKA_USERNAME": "agency-x",
                                 "KAFKA_PASSWORD_FILE": str(secret)})
    assert client_config(by_env)["sasl_plain_password"] == "p"
    assert client_config(by_file)["sasl_plain_password"] == "from-file"


@pytest.mark.parametrize(("environ", "says"), [
    ({"KAFKA_USERNAME": "a,b=c"}, "KAFKA_USERNAME='a,b=c' may hold only"),
    ({"KAFKA_PASSWORD": "x", "KAFKA_PASSWORD_FILE": "/x"}, "both set"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL"}, "KAFKA_SECURITY_PROTOCOL='SASL' must be one of"),
    ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM='GSSAPI' must be one of"),
    ({"KAFKA_SSL_CAFILE": "/nowhere/ca.pem"}, "is not a file"),
])
def test_bad_settings_stop_at_load_with_one_line(environ, says):
    with pytest.raises(ConfigError) as stopped:
        Settings.from_env(environ)
    assert says in str(stopped.value.code) and "\n" not in str(stopped.value.code)


def test_a_missing_password_names_the_variables(tmp_path):
    settings = Settings.from_env({"SERVICE_NAME": "intake", "DOITHOAI_VAR": str(tmp_path)})
    with pytest.raises(ConfigError) as stopped:
        client_config(settings)
    message = str(stopped.value.code)
    assert "no password for Kafka user 'intake'" in message
    assert "KAFKA_PASSWORD or KAFKA_PASSWORD_FILE" in message


def test_plaintext_needs_no_credentials():
    config = client_config(Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}))
    assert "sasl_plain_username" not in config

"""Settings from environment variables: defaults, validation, service subclasses."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import pytest

from services.common.config import ConfigError, Settings, describe, load, setting


@dataclass(frozen=True)
class SampleSettings(Settings):
    sweep_seconds: int = setting("SAMPLE_SWEEP_SECONDS", 60, "seconds between sweeps",
                                 low=1, high=3600)
    send_sms: bool = setting("SAMPLE_SEND_SMS", False, "really send SMS")
    heat: float = setting("SAMPLE_HEAT", 2.5, "trending threshold")
    mode: str = setting("SAMPLE_MODE", "fast", "how to run", choices=("fast", "slow"))


def test_defaults_load():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.kafka_partitions == 3
    assert settings.env == "development"


def test_values_from_environ_are_typed():
    settings = Settings.from_env({"KAFKA_PARTITIONS": "6", "DOITHOAI_ENV": "test",
                                  "TOPIC_PREFIX": "t1.", "UNRELATED": "x"})
    assert settings.kafka_partitions == 6
    assert settings.env == "test"
    assert settings.topic_prefix == "t1."


def test_overrides_win_over_environ():
    settings = Settings.from_env({"SERVICE_NAME": "from-env"}, service="override")
    assert settings.service == "override"


def test_from_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("SERVICE_NAME", "from-os-environ")
    assert Settings.from_env().service == "from-os-environ"


def error_of(environ: dict[str, str], cls: type = Settings) -> str:
    with pytest.raises(ConfigError) as caught:
        load(cls, environ)
    return str(caught.value.code)


def test_bad_int_names_the_variable():
    message = error_of({"KAFKA_PARTITIONS": "ba"})
    assert "KAFKA_PARTITIONS" in message and "whole number" in message


def test_out_of_range_names_the_variable():
    message = error_of({"KAFKA_REPLICATION": "8"})
    assert "KAFKA_REPLICATION" in message and "between 1 and 7" in message
    assert "KAFKA_PARTITIONS" in error_of({"KAFKA_PARTITIONS": "0"})


def test_bad_choice_names_the_variable():
    message = error_of({"DOITHOAI_ENV": "staging"})
    assert "DOITHOAI_ENV" in message and "production" in message
    assert "LOG_LEVEL" in error_of({"LOG_LEVEL": "info"})


def test_bad_key_spec_names_the_variable():
    assert "PII_KEYS" in error_of({"PII_KEYS": "dev:short"})
    assert "PII_KEYS" in error_of({"PII_KEYS": ""})
    short = base64.b64encode(os.urandom(16)).decode()
    assert "CONTACT_PUBLIC_KEY" in error_of({"CONTACT_PUBLIC_KEY": f"k:{short}"})


def test_production_needs_a_real_secret():
    assert "JWT_SECRET" in error_of({"DOITHOAI_ENV": "production"})
    load(Settings, {"DOITHOAI_ENV": "production", "JWT_SECRET": "a-real-one-" + "x" * 32})
    load(Settings, {"DOITHOAI_ENV": "production", "JWT_JWKS_URL": "https://idp/jwks"})


def test_config_error_stops_the_process():
    assert issubclass(ConfigError, SystemExit)
    assert str(ConfigError("X=1 is bad").code).startswith("configuration error:")


def test_service_subclass_loads_its_own_settings():
    settings = SampleSettings.from_env({
        "SAMPLE_SWEEP_SECONDS": "5", "SAMPLE_SEND_SMS": "yes", "SAMPLE_HEAT": "3.75",
        "SAMPLE_MODE": "slow", "SERVICE_NAME": "sample"})
    assert isinstance(settings, SampleSettings)
    assert settings.sweep_seconds == 5
    assert settings.send_sms is True
    assert settings.heat == 3.75
    assert settings.mode == "slow"
    assert settings.service == "sample"
    defaults = SampleSettings.from_env({})
    assert (defaults.sweep_seconds, defaults.send_sms, defaults.heat, defaults.mode) == (
        60, False, 2.5, "fast")


@pytest.mark.parametrize(("env", "raw", "words"), [
    ("SAMPLE_SWEEP_SECONDS", "0", "between 1 and 3600"),
    ("SAMPLE_SWEEP_SECONDS", "1.5", "whole number"),
    ("SAMPLE_SEND_SMS", "maybe", "true or false"),
    ("SAMPLE_HEAT", "hot", "not a number"),
    ("SAMPLE_MODE", "medium", "fast, slow"),
])
def test_service_subclass_validation(env, raw, words):
    message = error_of({env: raw}, SampleSettings)
    assert env in message and words in message


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("ON", True),
                                            ("0", False), ("no", False), ("", False)])
def test_booleans(raw, value):
    assert SampleSettings.from_env({"SAMPLE_SEND_SMS": raw}).send_sms is value


def test_describe_lists_variables():
    rows = describe(SampleSettings)
    names = [name for name, _, _ in rows]
    assert "KAFKA_BOOTSTRAP" in names and "PII_KEYS" in names
    assert names[-4:] == ["SAMPLE_SWEEP_SECONDS", "SAMPLE_SEND_SMS", "SAMPLE_HEAT", "SAMPLE_MODE"]
    assert ("SAMPLE_SWEEP_SECONDS", 60, "seconds between sweeps") in rows
    assert all(doc for _, _, doc in rows)
    assert len(names) == len(set(names))

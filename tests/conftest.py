"""Shared fixtures. Integration and e2e tests use the real Kafka and FerretDB started by
``deploy/infra.sh up`` (``make test`` does it); each test gets its own topic and
database prefix so that tests never see each other's data."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from services.common.config import Settings
from services.common.kafka import kafka_ready
from services.common.mongo import mongo_ready
from tests.helpers import drop_prefix, unique

# The tests' own Kafka clients (creating and deleting topics of unique prefixes) are
# operator tooling: the admin principal. The services the e2e tests start run on their own.
os.environ.setdefault("KAFKA_USERNAME", "admin")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env(env="test", log_level="WARNING")


@pytest.fixture(scope="session")
def infra(base_settings: Settings) -> Settings:
    """Fails (never skips) when the servers are not up: they are part of the test."""
    if not mongo_ready(base_settings):
        pytest.fail(f"no MongoDB-protocol server at {base_settings.mongo_url}: run make infra-up")
    if not kafka_ready(base_settings):
        pytest.fail(f"no Kafka at {base_settings.kafka_bootstrap}: run make infra-up")
    return base_settings


@pytest.fixture
def make_settings(infra: Settings) -> Iterator[Callable[..., Settings]]:
    """Settings with a unique topic and database prefix; cleaned up after the test."""
    prefix = unique("t")
    made: list[Settings] = []

    def make(service: str = "test", **overrides) -> Settings:
        settings = Settings.from_env(
            env="test", log_level="WARNING", service=service,
            topic_prefix=f"{prefix}.", db_prefix=f"{prefix}_", kafka_partitions=2, **overrides)
        made.append(settings)
        return settings

    yield make
    if made:
        drop_prefix(infra, prefix)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()

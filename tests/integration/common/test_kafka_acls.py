"""The secured broker refuses what acls.py does not allow: every refusal here comes from the
broker (an authentication or authorisation error code), not from our code."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)

from services.common.config import ConfigError, Settings
from services.common.kafka import client_config, ensure_topics
from services.common.kafka_security import add_agency, revoke_agency, setup, teardown
from tests.helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def agencies(settings: Settings) -> Iterator[dict[str, Settings]]:
    """Two agencies with their own principals, and the services' topics of this prefix."""
    ensure_topics(settings, ["intake.petitions", "followup.commitments"])
    made: dict[str, Settings] = {}
    for name in ("x", "y"):
        agency = unique(f"so-{name}-")
        user, password, _ = add_agency(settings, agency)
        made[name] = dataclasses.replace(settings, kafka_username=user,
                                         kafka_password=password, kafka_password_file="")
        made[f"{name}_id"] = agency  # type: ignore[assignment]
    yield made
    for name in ("x", "y"):
        revoke_agency(settings, made[f"{name}_id"])  # type: ignore[arg-type]


def produce(settings: Settings, topic: str, **extra: object) -> None:
    # retries: a topic created a moment ago may not have its leader yet (NOT_LEADER is
    # retriable); an authorisation error is not, and comes back at once
    producer = KafkaProducer(**client_config(settings), acks="all", retries=30,
                             retry_backoff_ms=200,
                             max_block_ms=8_000, request_timeout_ms=10_000,
                             bootstrap_timeout_ms=6_000, **extra)
    try:
        producer.send(topic, key=b"k", value=b'{"probe": true}').get(timeout=20)
    finally:
        producer.close(timeout=5)


def fetch(settings: Settings, topic: str) -> list:
    """Read partition 0 from its start. Asking where it starts (ListOffsets) is the first
    request a reader makes; the broker answers TOPIC_AUTHORIZATION_FAILED without Read."""
    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False,
                             auto_offset_reset="earliest", request_timeout_ms=10_000)
    try:
        tp = TopicPartition(topic, 0)
        start = consumer.beginning_offsets([tp])[tp]
        consumer.assign([tp])
        consumer.seek(tp, start)
        records = []
        for _ in range(10):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
            if records:
                break
        return records
    finally:
        consumer.close()


@pytest.fixture
def client_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """kafka-python's connection log, where the broker's answer to a login shows."""
    caplog.set_level(logging.INFO, logger="kafka.net")
    return caplog


def test_a_client_without_credentials_is_refused(settings: Settings, client_log):
    anonymous = dataclasses.replace(settings, kafka_security_protocol="PLAINTEXT")
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        produce(anonymous, settings.topic_prefix + "intake.petitions")
    # the broker hung up on a request sent before any SASL exchange
    assert "socket disconnected" in client_log.text


def test_a_wrong_password_is_refused_by_the_broker(settings: Settings, client_log):
    ensure_topics(settings, ["intake.petitions"])
    produce(settings, settings.topic_prefix + "intake.petitions")  # the right password: in
    intruder = dataclasses.replace(settings, kafka_password="not-the-password",
                                   kafka_password_file="")
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        produce(intruder, settings.topic_prefix + "intake.petitions")
    # the broker answered the login with "invalid credentials" (SASL error 58), or hung up
    # on it before the client read the answer
    assert ("SaslAuthenticationFailedError" in client_log.text
            or "socket disconnected" in client_log.text)


def test_an_agency_writes_and_reads_only_its_own_topic(settings: Settings, agencies):
    x, y = agencies["x"], agencies["y"]
    own = f"{settings.topic_prefix}agency.{agencies['x_id']}.reports"
    produce(x, own)  # allowed: the control that makes the refusals below mean something
    assert len(fetch(x, own)) == 1

    with pytest.raises(TopicAuthorizationFailedError):
        produce(x, f"{settings.topic_prefix}agency.{agencies['y_id']}.reports")
    with pytest.raises(TopicAuthorizationFailedError):
        produce(x, settings.topic_prefix + "followup.commitments")
    with pytest.raises(TopicAuthorizationFailedError):
        fetch(x, settings.topic_prefix + "intake.petitions")
    with pytest.raises(TopicAuthorizationFailedError):
        fetch(y, own)


def test_a_revoked_agency_is_refused_at_once(settings: Settings, agencies, client_log):
    x = agencies["x"]
    own = f"{settings.topic_prefix}agency.{agencies['x_id']}.reports"
    producer = KafkaProducer(**client_config(x), acks="all", retries=30, retry_backoff_ms=200,
                             max_block_ms=15_000)
    try:
        producer.send(own, value=b"{}").get(timeout=20)
        had, removed = revoke_agency(settings, agencies["x_id"])
        assert had and removed >= 4
        # the connection it already holds: no ACL any more
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(own, value=b"{}").get(timeout=20)
    finally:
        producer.close(timeout=5)
    # a new connection: no credentials any more
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        produce(x, own)
    # the broker answered the login with "invalid credentials" or hung up
    assert ("SaslAuthenticationFailedError" in client_log.text
            or "socket disconnected" in client_log.text)


def test_a_service_may_not_write_another_services_topic(settings: Settings):
    setup(settings)  # the services' ACLs for this prefix, as make infra-up does without one
    try:
        intake = dataclasses.replace(settings, kafka_username="intake", service="intake")
        produce(intake, settings.topic_prefix + "intake.petitions")
        with pytest.raises(TopicAuthorizationFailedError):
            produce(intake, settings.topic_prefix + "followup.commitments")
    finally:
        teardown(settings, settings.topic_prefix)


def test_a_service_may_not_create_topics_and_says_what_to_run(settings: Settings):
    setup(settings)
    try:
        intake = dataclasses.replace(settings, kafka_username="intake", service="intake")
        ensure_topics(intake, ["intake.petitions"])  # exists: nothing to create, no error
        with pytest.raises(ConfigError) as stopped:
            ensure_topics(intake, ["intake.archive"])
        assert "may not create them" in str(stopped.value.code)
        assert "services.cli kafka setup" in str(stopped.value.code)
    finally:
        teardown(settings, settings.topic_prefix)


def test_followup_writes_the_agencies_feeds_and_no_other_service_does(settings: Settings,
                                                                      agencies):
    setup(settings)
    try:
        feed = f"{settings.topic_prefix}agency.{agencies['x_id']}.commitments"
        followup = dataclasses.replace(settings, kafka_username="followup", service="followup")
        produce(followup, feed)
        assert len(fetch(agencies["x"], feed)) == 1  # and the agency reads it
        notify = dataclasses.replace(settings, kafka_username="notify", service="notify")
        with pytest.raises(TopicAuthorizationFailedError):
            produce(notify, feed)
        with pytest.raises(TopicAuthorizationFailedError):
            produce(agencies["x"], feed)  # an agency never writes its own feed
    finally:
        teardown(settings, settings.topic_prefix)

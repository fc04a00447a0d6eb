"""Operator CLI against the real Kafka: tokens, dead letters listed and replayed, lag."""

from __future__ import annotations

from services.cli import consumer_lag, main
from services.common.auth import Verifier
from services.common.kafka import Bus, Consumer, ensure_topics
from tests.helpers import read_topic
from tests.integration.common.test_kafka_kit import TOPIC, consume_until, overdue


def test_token_verifies_with_the_configured_secret(capsys, settings):
    assert main(["token", "--role", "agency_officer", "--agency", "so-tnmt-37",
                 "--province", "37", "--ttl", "60"]) == 0
    principal = Verifier(settings).verify(capsys.readouterr().out.strip())
    assert principal.roles == {"agency_officer"}
    assert principal.agency_id == "so-tnmt-37" and principal.province_code == "37"


def test_dead_letters_are_listed_and_replayed_to_their_topic(settings, monkeypatch, capsys):
    monkeypatch.setenv("TOPIC_PREFIX", settings.topic_prefix)
    ensure_topics(settings, [TOPIC])
    bus = Bus(settings)
    try:
        bus.send(bus.topic(TOPIC), "c-9", b'{"specversion": "1.0"}')
        consumer = Consumer(settings, bus, "cli-dlq", {}, topics=[TOPIC])
        try:
            consume_until(consumer, lambda: consumer.stats.dead_lettered == 1)
        finally:
            consumer.close()
        bus.publish(overdue("c-10"))
    finally:
        bus.close()

    assert main(["dlq", "list", "--group", "cli-dlq"]) == 0
    listed = capsys.readouterr().out
    assert "1 dead-lettered record(s)" in listed
    assert "not a CloudEvent" in listed and f"from {settings.topic_prefix}{TOPIC}" in listed

    assert main(["dlq", "replay", "--group", "cli-dlq"]) == 0
    assert "replayed 1 record(s)" in capsys.readouterr().out
    records = read_topic(settings, settings.topic_prefix + TOPIC, min_count=3)
    replayed = [r for r in records if dict(r.headers).get("dlq.replayed-from")]
    assert len(replayed) == 1 and replayed[0].value == b'{"specversion": "1.0"}'


def test_consumer_lag_counts_unread_records(settings):
    ensure_topics(settings, [TOPIC])
    bus = Bus(settings)
    try:
        consumer = Consumer(settings, bus, "cli-lag", {}, topics=[TOPIC])
        bus.publish(overdue("c-11"))
        consume_until(consumer, lambda: consumer.stats.skipped == 1)
        consumer.close()
        for n in range(3):
            bus.publish(overdue(f"c-1{n + 2}"))
    finally:
        bus.close()
    lag = consumer_lag(settings)
    assert lag[f"{settings.topic_prefix}cli-lag"][f"{settings.topic_prefix}{TOPIC}"] == 3

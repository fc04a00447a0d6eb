"""Bad records on a consumed topic go to the consumer's dead-letter topic with their reason,
the consumer goes on, and the operator lists and replays them through the secured broker."""

from __future__ import annotations

import json

import pytest

from services.cli import main
from services.common.kafka import Bus, Consumer, dlq_topic, ensure_topics
from tests.helpers import read_topic
from tests.integration.common.test_kafka_kit import TOPIC, consume_until, overdue

pytestmark = pytest.mark.integration


def bad_records() -> dict[str, bytes]:
    """One record of each kind of bad, by the reason it must be dead-lettered with."""
    event = json.loads(overdue("c-1").to_json())
    unknown_type = {**event, "type": "commitment.teleported",
                    "dataschema": event["dataschema"].replace("overdue", "teleported")}
    unknown_version = {**event, "dataschema": event["dataschema"].replace(".v1.", ".v9.")}
    return {
        "not-json": b"\xff{ not json",
        "not-cloudevent": json.dumps({"hello": "xin chào"}).encode(),
        "unknown-type": json.dumps(unknown_type).encode(),
        "unknown-type-version": json.dumps(unknown_version).encode(),
        "oversized": overdue("c-1", text="Nạo vét kênh " * 400).to_json(),
    }


def test_each_kind_of_bad_record_is_dead_lettered_with_its_reason(make_settings, monkeypatch,
                                                                  capsys):
    settings = make_settings(kafka_max_event_bytes=4096)
    ensure_topics(settings, [TOPIC])
    bad = bad_records()
    assert len(bad["oversized"]) > 4096
    bus = Bus(settings)
    good = overdue("c-1")
    seen = []
    try:
        for value in bad.values():  # one key: one partition, in this order
            bus.send(bus.topic(TOPIC), "c-1", value)
        bus.publish(good)
        consumer = Consumer(settings, bus, "bad", {"commitment.overdue": seen.append},
                            topics=[TOPIC])
        try:
            consume_until(consumer, lambda: seen)
        finally:
            consumer.close()
    finally:
        bus.close()
    assert [e.id for e in seen] == [good.id]  # the consumer went on past all five

    dead = read_topic(settings, dlq_topic(settings, "bad"), min_count=5)
    by_offset = sorted(dead, key=lambda r: int(dict(r.headers)["dlq.offset"]))
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in by_offset]
    assert reasons == ["not-json", "not-cloudevent", "unknown-type", "unknown-type",
                       "oversized"]
    errors = [dict(r.headers)["dlq.error"].decode() for r in by_offset]
    assert "not JSON" in errors[0]
    assert "commitment.teleported" in errors[2] and ".v9." in errors[3]
    assert "more than 4096" in errors[4]
    assert [r.value for r in by_offset] == list(bad.values())  # kept byte for byte

    # the operator's tools, as the admin principal on the secured broker
    monkeypatch.setenv("TOPIC_PREFIX", settings.topic_prefix)
    assert main(["dlq", "list", "--group", "bad"]) == 0
    listed = capsys.readouterr().out
    assert "5 dead-lettered record(s)" in listed and "reason: oversized" in listed
    assert main(["dlq", "replay", "--group", "bad", "--offset", "1"]) == 0
    assert "replayed 1 record(s)" in capsys.readouterr().out
    back = read_topic(settings, settings.topic_prefix + TOPIC, min_count=7)
    replayed = [r for r in back if dict(r.headers or []).get("dlq.replayed-from")]
    assert [r.value for r in replayed] == [bad["not-cloudevent"]]

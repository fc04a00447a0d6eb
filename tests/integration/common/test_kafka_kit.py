"""The kit's delivery guarantees against the real Kafka and FerretDB."""

from __future__ import annotations

import time
from datetime import date

import pytest
from pymongo.errors import DuplicateKeyError

from services.common import contracts  # noqa: F401 - registers the event types
from services.common.events import Event, new_event
from services.common.kafka import Bus, Consumer, Rejected, dlq_topic, ensure_topics
from services.common.mongo import database
from tests.helpers import read_topic

TOPIC = "followup.commitments"


def overdue(commitment_id: str, text: str = "Nạo vét kênh Đồng Quan") -> Event:
    return new_event("commitment.overdue", commitment_id, {
        "commitment_id": commitment_id, "agency_id": "so-nnptnt-37", "conclusion_id": "k1",
        "dialogue_id": "d1", "text": text, "deadline": date(2027, 3, 31),
        "locality": {"province_code": "37", "ward_code": "14464"}, "petition_ids": ["p1"],
    }, source="test")


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, nothing is committed."""


def consume_until(consumer: Consumer, done, rounds: int = 60) -> None:
    for _ in range(rounds):
        consumer.poll_once(timeout_ms=500)
        if done():
            return
    raise AssertionError("consumer did not finish in time")


@pytest.fixture
def bus(settings):
    ensure_topics(settings, [TOPIC])
    bus = Bus(settings)
    yield bus
    bus.close()


def test_published_event_is_consumed_validated_and_handled(settings, bus):
    seen: list[Event] = []
    event = overdue("c-1")
    bus.publish(event)
    consumer = Consumer(settings, bus, "kit", {"commitment.overdue": seen.append}, topics=[TOPIC])
    try:
        consume_until(consumer, lambda: seen)
    finally:
        consumer.close()
    got = seen[0]
    assert got.id == event.id
    assert got.data["deadline"] == date(2027, 3, 31)
    assert got.data["text"] == "Nạo vét kênh Đồng Quan"
    assert got.correlation_id == event.correlation_id


def test_consumer_dying_before_commit_sees_the_record_again_and_effect_happens_once(
        settings, bus):
    effects = database(settings, "kit")["effects"]
    calls: list[str] = []
    crash = {"armed": True}

    def handle(event: Event) -> None:
        calls.append(event.id)
        try:  # the effect, made idempotent by an id derived from the event
            effects.insert_one({"_id": event.derived_id("effect"), "commitment": event.subject})
        except DuplicateKeyError:
            pass
        if crash["armed"]:
            crash["armed"] = False
            raise Crash

    bus.publish(overdue("c-2"))
    first = Consumer(settings, bus, "kit-crash", {"commitment.overdue": handle}, topics=[TOPIC])
    with pytest.raises(Crash):
        consume_until(first, lambda: False)
    first.close()

    second = Consumer(settings, bus, "kit-crash", {"commitment.overdue": handle}, topics=[TOPIC])
    try:
        consume_until(second, lambda: len(calls) >= 2)
    finally:
        second.close()
    assert len(calls) == 2 and calls[0] == calls[1]  # delivered again after the crash
    assert effects.count_documents({"commitment": "c-2"}) == 1  # but the effect is once


def test_malformed_and_schema_invalid_records_are_dead_lettered_and_the_next_is_handled(
        settings, bus):
    topic = bus.topic(TOPIC)
    bus.send(topic, "c-3", b"{not json")
    broken = overdue("c-3").to_json().replace(b'"deadline": "2027-03-31"',
                                              b'"deadline": "31/03/2027"')
    assert b"31/03/2027" in broken
    bus.send(topic, "c-3", broken)
    good = overdue("c-3")
    bus.publish(good)

    seen: list[Event] = []
    consumer = Consumer(settings, bus, "kit-dlq", {"commitment.overdue": seen.append},
                        topics=[TOPIC])
    try:
        consume_until(consumer, lambda: seen)
    finally:
        consumer.close()
    assert [e.id for e in seen] == [good.id]

    dead = read_topic(settings, dlq_topic(settings, "kit-dlq"), min_count=2)
    assert len(dead) == 2
    headers = [dict(r.headers) for r in dead]
    assert {h["dlq.topic"].decode() for h in headers} == {topic}
    # same key, so same partition: the two bad records were its first two offsets
    assert sorted(int(h["dlq.offset"]) for h in headers) == [0, 1]
    assert len({h["dlq.partition"] for h in headers}) == 1
    errors = sorted(h["dlq.error"].decode() for h in headers)
    assert any("not a CloudEvent" in e for e in errors)
    assert any("failed its schema" in e and "deadline" in e for e in errors)
    assert {r.value for r in dead} == {b"{not json", broken}


def test_rejected_by_handler_goes_to_dead_letter_with_reason(settings, bus):
    def refuse(event: Event) -> None:
        raise Rejected("commitment not assigned to this agency")

    bus.publish(overdue("c-4"))
    consumer = Consumer(settings, bus, "kit-rej", {"commitment.overdue": refuse}, topics=[TOPIC])
    try:
        consume_until(consumer, lambda: consumer.stats.dead_lettered == 1)
    finally:
        consumer.close()
    dead = read_topic(settings, dlq_topic(settings, "kit-rej"))
    assert dict(dead[0].headers)["dlq.error"] == b"commitment not assigned to this agency"


def test_transient_failure_is_retried_not_dead_lettered(settings, bus):
    attempts: list[int] = []

    def flaky(event: Event) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("database briefly unavailable")

    bus.publish(overdue("c-5"))
    consumer = Consumer(settings, bus, "kit-retry", {"commitment.overdue": flaky},
                        topics=[TOPIC], backoff_max=0.2)
    try:
        consume_until(consumer, lambda: consumer.stats.handled == 1)
    finally:
        consumer.close()
    assert len(attempts) == 3
    assert consumer.stats.dead_lettered == 0


def test_a_new_topic_matching_the_pattern_is_read_even_when_joins_outlast_each_poll(
        settings, bus):
    # Polls of a few milliseconds: every rebalance outlasts the poll that starts it,
    # which is what CPU load does to the usual 500 ms polls.
    seen: list[Event] = []
    consumer = Consumer(settings, bus, "kit-pattern", {"commitment.overdue": seen.append},
                        pattern=r"agency\..+\.reports", metadata_max_age_ms=300)
    try:
        for _ in range(40):
            consumer.poll_once(timeout_ms=5)  # joined, nothing matches yet
        topic = "agency.so-moi-37.reports"
        ensure_topics(settings, [topic])
        event = overdue("c-new")
        bus.send(bus.topic(topic), event.subject, event.to_json())
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=5)
            time.sleep(0.01)
    finally:
        consumer.close()
    assert [e.id for e in seen] == [event.id]

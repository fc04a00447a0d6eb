"""The drain check the end-to-end tests count after (``tests.helpers.wait_drained``) sees
work in flight: records a group has not committed, and events still in an outbox."""

from __future__ import annotations

from kafka import KafkaConsumer
from pymongo import MongoClient

from services.common.kafka import Bus, client_config, ensure_topics
from tests.helpers import consumer_lag, staged_events, wait_drained, wait_for


def test_lag_counts_what_a_group_has_not_committed_until_it_commits(settings):
    prefix = settings.topic_prefix
    topic = f"{prefix}drain.check"
    ensure_topics(settings, ["drain.check"])
    bus = Bus(settings)
    try:
        for n in range(3):
            bus.send(topic, f"k{n}", b"{}")
    finally:
        bus.close()
    reader = KafkaConsumer(topic, group_id=f"{prefix}reader", enable_auto_commit=False,
                           auto_offset_reset="earliest", **client_config(settings))
    try:
        seen = []
        wait_for(lambda: seen.extend(r for b in reader.poll(500).values() for r in b)
                 or len(seen) >= 3, 30, message="the three records")
        # joined and read, nothing committed: everything is still in flight
        assert consumer_lag(settings, prefix) == 3
        reader.commit()
        assert consumer_lag(settings, prefix) == 0
    finally:
        reader.close()


def test_staged_events_count_documents_whose_outbox_is_not_empty(settings):
    client = MongoClient(settings.mongo_url)
    try:
        db = client[f"{settings.db_prefix}drain"]
        db.things.insert_one({"_id": "a", "outbox": [{"id": "e1"}], "outbox_pending": True})
        db.things.insert_one({"_id": "b", "outbox": []})
        assert staged_events(settings, settings.db_prefix) == 1
        db.things.update_one({"_id": "a"}, {"$set": {"outbox": []},
                                            "$unset": {"outbox_pending": ""}})
        assert staged_events(settings, settings.db_prefix) == 0
        wait_drained(settings, settings.topic_prefix.rstrip("."), quiet=0.3, timeout=30)
    finally:
        client.close()

"""The outbox: staged with the state change, published at least once, in order per aggregate."""

from __future__ import annotations

import json
from datetime import date

import pytest

from services.common import contracts  # noqa: F401
from services.common.clock import FixedClock, utcnow
from services.common.events import new_event
from services.common.kafka import Bus, ensure_topics
from services.common.mongo import database, ensure_indexes
from services.common.outbox import FIELD, FLAG, PENDING, Outbox, index, new_document, stage
from tests.helpers import events_on

TOPIC = "followup.commitments"


def progress(commitment_id: str, percent: int):
    return new_event("commitment.progress_reported", commitment_id, {
        "commitment_id": commitment_id, "agency_id": "so-xd-37",
        "note": f"Đã hoàn thành {percent}% khối lượng", "percent": percent}, source="test")


class Crash(BaseException):
    pass


class DiesBeforeCleanup:
    """The real collection, except that the process 'dies' when the relay pulls its events."""

    def __init__(self, collection) -> None:
        self._collection = collection

    def __getattr__(self, name):
        return getattr(self._collection, name)

    def update_one(self, filter, update, *args, **kwargs):
        if "$pullAll" in update or FIELD in update.get("$set", {}):
            raise Crash
        return self._collection.update_one(filter, update, *args, **kwargs)


@pytest.fixture
def env(settings):
    ensure_topics(settings, [TOPIC])
    db = database(settings, "kit")
    ensure_indexes(db, [index("commitments")])
    bus = Bus(settings)
    yield db["commitments"], bus
    bus.close()


def test_state_change_and_events_are_one_update(env):
    commitments, _bus = env
    now = utcnow()
    commitments.insert_one(new_document({"_id": "c1", "percent": 0}, [], now))
    result = commitments.update_one(
        {"_id": "c1", "percent": 0},
        stage({"$set": {"percent": 40}}, [progress("c1", 40)], now))
    assert result.modified_count == 1
    doc = commitments.find_one({"_id": "c1"})
    assert doc["percent"] == 40
    assert [json.loads(e["value"])["data"]["percent"] for e in doc[FIELD]] == [40]
    assert doc[PENDING] is not None


def test_relay_killed_between_publishing_and_cleanup_loses_nothing(settings, env):
    commitments, bus = env
    clock = FixedClock(utcnow())
    event = progress("c2", 70)
    commitments.insert_one(new_document({"_id": "c2"}, [event], clock()))
    clock.advance(seconds=5)

    dying = Outbox(bus, [DiesBeforeCleanup(commitments)], clock=clock)
    with pytest.raises(Crash):
        dying.relay_once()
    assert len(commitments.find_one({"_id": "c2"})[FIELD]) == 1  # still staged

    assert Outbox(bus, [commitments], clock=clock).relay_once() == 1
    doc = commitments.find_one({"_id": "c2"})
    assert doc[FIELD] == [] and PENDING not in doc
    published = [e for e in events_on(settings, TOPIC, min_count=2) if e["id"] == event.id]
    assert len(published) == 2  # at least once: published again, never lost
    assert Outbox(bus, [commitments], clock=clock).relay_once() == 0  # nothing left


def test_events_of_one_aggregate_arrive_in_order(settings, env):
    commitments, bus = env
    clock = FixedClock(utcnow())
    commitments.insert_one(new_document({"_id": "c3", "percent": 0}, [], clock()))
    for percent in (10, 20, 30, 40, 50):
        commitments.update_one({"_id": "c3"},
                               stage({"$set": {"percent": percent}},
                                     [progress("c3", percent)], clock()))
    outbox = Outbox(bus, [commitments], clock=clock)
    assert outbox.relay_once() == 0  # within the grace period the web process owns them
    clock.advance(seconds=5)
    assert outbox.relay_once() == 5
    received = [e["data"]["percent"] for e in events_on(settings, TOPIC, min_count=5)
                if e["subject"] == "c3"]
    assert received == [10, 20, 30, 40, 50]


def test_flush_publishes_at_once_and_clears(settings, env):
    commitments, bus = env
    event = progress("c4", 100)
    commitments.insert_one(new_document({"_id": "c4"}, [event], utcnow()))
    Outbox(bus, [commitments]).flush(commitments, "c4")
    assert commitments.find_one({"_id": "c4"})[FIELD] == []
    assert [e["id"] for e in events_on(settings, TOPIC)] == [event.id]


def test_deadline_field_survives_as_a_date(settings, env):
    """Dates in event data are serialised by the schema, not by Mongo."""
    commitments, bus = env
    event = new_event("commitment.overdue", "c5", {
        "commitment_id": "c5", "agency_id": "so-xd-37", "conclusion_id": "k",
        "dialogue_id": "d", "text": "Lắp đèn đường", "deadline": date(2027, 1, 15),
        "locality": {"province_code": "37"}}, source="test")
    commitments.insert_one(new_document({"_id": "c5"}, [event], utcnow()))
    Outbox(bus, [commitments]).flush(commitments, "c5")
    assert events_on(settings, TOPIC)[0]["data"]["deadline"] == "2027-01-15"


def test_events_staged_while_publishing_stay_for_the_next_pass(settings, env):
    commitments, bus = env
    first, second = progress("c9", 10), progress("c9", 20)
    commitments.insert_one(new_document({"_id": "c9"}, [first], utcnow()))

    class StagesMeanwhile:
        """Another writer stages an event after the relay read the document."""

        def __init__(self, collection) -> None:
            self._collection = collection

        def __getattr__(self, name):
            return getattr(self._collection, name)

        def find_one(self, *args, **kwargs):
            doc = self._collection.find_one(*args, **kwargs)
            self._collection.update_one({"_id": "c9"}, stage({}, [second], utcnow()))
            return doc

    Outbox(bus, [commitments]).flush(StagesMeanwhile(commitments), "c9")
    doc = commitments.find_one({"_id": "c9"})
    assert [e["id"] for e in doc[FIELD]] == [second.id] and doc[FLAG] is True
    Outbox(bus, [commitments]).flush(commitments, "c9")
    doc = commitments.find_one({"_id": "c9"})
    assert doc[FIELD] == [] and FLAG not in doc
    published = [e["id"] for e in events_on(settings, TOPIC, min_count=2)
                 if e["subject"] == "c9"]
    assert published == [first.id, second.id]


def test_publish_sends_several_documents_together_and_clears_nothing(settings, env):
    """The web's deferred publisher under load: several documents as just written,
    published together and left staged, for the consumer's own write (intake's
    grouping) or, past the grace, the relay to clear."""
    commitments, bus = env
    now = utcnow()
    firsts = {f"m{i}": progress(f"m{i}", 10) for i in range(5)}
    docs = [new_document({"_id": cid}, [event], now) for cid, event in firsts.items()]
    commitments.insert_many([dict(doc) for doc in docs])
    Outbox(bus, [commitments]).publish(commitments, docs)
    published = {e["id"] for e in events_on(settings, TOPIC, min_count=5)}
    assert published == {e.id for e in firsts.values()}
    for cid, event in firsts.items():
        doc = commitments.find_one({"_id": cid})
        assert [e["id"] for e in doc[FIELD]] == [event.id] and doc[FLAG] is True

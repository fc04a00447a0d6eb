"""The CloudEvents envelope, payload validation on both sides, and the type registry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

import services.common.contracts  # noqa: F401  (registers every event type)
from services.common import logs
from services.common.contracts import followup
from services.common.events import REGISTRY, SCHEMA_BASE, Event, InvalidEvent, new_event

ACCEPTED_AT = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)


def accepted_data(**extra) -> dict:
    return {
        "petition_id": "p-1", "tracking_code": "NB-2027-0001",
        "locality": {"province_code": "37", "ward_code": "14464"},
        "category": "Môi trường", "due_date": date(2027, 2, 11),
        "accepted_at": ACCEPTED_AT, **extra,
    }


def accepted(**kwargs) -> Event:
    return new_event("petition.accepted", "p-1", accepted_data(), source="intake", **kwargs)


def envelope(event: Event) -> dict:
    return json.loads(event.to_json())


def raw(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def test_envelope_is_structured_cloudevent():
    event = accepted()
    doc = envelope(event)
    assert doc["specversion"] == "1.0"
    assert doc["id"] == event.id
    assert doc["source"] == "intake"
    assert doc["type"] == "petition.accepted"
    assert doc["subject"] == "p-1"
    assert doc["datacontenttype"] == "application/json"
    assert doc["dataschema"] == f"{SCHEMA_BASE}/petition.accepted.v1.json"
    moment = datetime.fromisoformat(doc["time"].replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0)
    assert moment == event.time
    # data is JSON: dates and datetimes as ISO strings with offset
    assert doc["data"]["due_date"] == "2027-02-11"
    assert datetime.fromisoformat(doc["data"]["accepted_at"]) == ACCEPTED_AT
    assert datetime.fromisoformat(doc["data"]["accepted_at"]).tzinfo is not None


def test_without_cause_correlation_is_own_id_and_no_causation():
    event = accepted()
    doc = envelope(event)
    assert doc["correlationid"] == event.id
    assert "causationid" not in doc


def test_cause_propagates_correlation_and_sets_causation():
    first = accepted()
    second = new_event("petition.closed", "p-1", {
        "petition_id": "p-1", "tracking_code": "NB-2027-0001",
        "locality": {"province_code": "37"}, "closed_at": ACCEPTED_AT,
    }, source="intake", cause=first)
    third = new_event("petition.withdrawn", "p-1", {
        "petition_id": "p-1", "tracking_code": "NB-2027-0001",
        "locality": {"province_code": "37"},
    }, source="intake", cause=second)
    assert second.correlation_id == first.id
    assert second.causation_id == first.id
    assert third.correlation_id == first.id  # the whole chain shares one correlation id
    assert third.causation_id == second.id
    doc = envelope(third)
    assert doc["correlationid"] == first.id
    assert doc["causationid"] == second.id


def test_correlation_from_context_when_no_cause():
    token_c = logs.correlation_id.set("req-abc")
    token_k = logs.causation_id.set("msg-xyz")
    try:
        event = accepted()
    finally:
        logs.correlation_id.reset(token_c)
        logs.causation_id.reset(token_k)
    assert event.correlation_id == "req-abc"
    assert event.causation_id == "msg-xyz"
    back = Event.from_json(event.to_json())
    assert (back.correlation_id, back.causation_id) == ("req-abc", "msg-xyz")


def test_round_trip_keeps_dates_times_and_vietnamese():
    data = accepted_data()
    event = new_event("petition.received", "p-1", {
        **{k: data[k] for k in ("petition_id", "tracking_code", "locality", "due_date")},
        "kind": "complaint", "channel": "web",
        "title": "Đường làng bị ngập sau mưa lớn ở thôn Đông Hải",
        "category": "Hạ tầng giao thông",
        "received_at": datetime(2027, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=7))),
        "contact": {"masked_phone": "+8491****678", "consent_notifications": True},
    }, source="intake", time=datetime(2027, 3, 1, 1, 30, tzinfo=UTC))
    back = Event.from_json(event.to_json())
    assert back.id == event.id
    assert back.type == "petition.received"
    assert back.version == 1
    assert back.subject == "p-1"
    assert back.source == "intake"
    assert back.time == datetime(2027, 3, 1, 1, 30, tzinfo=UTC)
    assert back.time.tzinfo is not None
    assert back.data["title"] == "Đường làng bị ngập sau mưa lớn ở thôn Đông Hải"
    assert back.data["category"] == "Hạ tầng giao thông"
    assert back.data["due_date"] == date(2027, 2, 11)
    assert isinstance(back.data["due_date"], date)
    assert back.data["received_at"] == datetime(2027, 3, 1, 1, 30, tzinfo=UTC)
    assert back.data["received_at"].tzinfo is not None
    assert back.data["contact"]["masked_phone"] == "+8491****678"
    assert back.data["contact"]["consent_notifications"] is True
    assert back.topic == "intake.petitions"


def test_from_json_accepts_str():
    event = accepted()
    assert Event.from_json(event.to_json().decode()).id == event.id


def test_unknown_type_is_invalid():
    doc = envelope(accepted())
    doc["type"] = "petition.teleported"
    doc.pop("dataschema")
    with pytest.raises(InvalidEvent):
        Event.from_json(raw(doc))


def test_unknown_dataschema_is_invalid():
    doc = envelope(accepted())
    doc["dataschema"] = f"{SCHEMA_BASE}/petition.accepted.v99.json"
    with pytest.raises(InvalidEvent, match="dataschema"):
        Event.from_json(raw(doc))


def test_dataschema_of_another_type_is_invalid():
    doc = envelope(accepted())
    doc["dataschema"] = f"{SCHEMA_BASE}/petition.closed.v1.json"
    with pytest.raises(InvalidEvent):
        Event.from_json(raw(doc))


def test_missing_subject_is_invalid():
    doc = envelope(accepted())
    doc.pop("subject")
    with pytest.raises(InvalidEvent, match="subject"):
        Event.from_json(raw(doc))


@pytest.mark.parametrize("payload", [
    b"not json at all", b"{", b"", b"\xff\xfe",
    b"[1, 2]", b'"text"', b"null", b"1",  # valid JSON that is not an object
    b'{"hello": "world"}', b'{"specversion": "9.9"}',
])
def test_non_cloudevent_is_invalid(payload):
    with pytest.raises(InvalidEvent):
        Event.from_json(payload)


def test_data_failing_schema_is_invalid():
    doc = envelope(accepted())
    doc["data"]["locality"]["province_code"] = "Ninh Bình"
    with pytest.raises(InvalidEvent, match="province_code"):
        Event.from_json(raw(doc))
    doc = envelope(accepted())
    del doc["data"]["accepted_at"]
    with pytest.raises(InvalidEvent, match="accepted_at"):
        Event.from_json(raw(doc))


def test_data_not_an_object_is_invalid():
    doc = envelope(accepted())
    doc["data"] = ["p-1"]
    with pytest.raises(InvalidEvent):
        Event.from_json(raw(doc))


def test_unknown_fields_dropped_on_receipt():
    doc = envelope(accepted())
    doc["data"]["added_in_a_later_release"] = "mới"
    doc["data"]["locality"]["district_code"] = "369"
    back = Event.from_json(raw(doc))
    assert "added_in_a_later_release" not in back.data
    assert "district_code" not in back.data["locality"]
    assert back.data["petition_id"] == "p-1"


def test_new_event_refuses_unknown_and_invalid_fields():
    with pytest.raises(ValueError, match="unknown fields"):
        new_event("petition.accepted", "p-1", accepted_data(surprise=1), source="intake")
    bad = accepted_data()
    bad["locality"] = {"province_code": "3"}
    with pytest.raises(ValueError, match="invalid data"):
        new_event("petition.accepted", "p-1", bad, source="intake")
    missing = accepted_data()
    del missing["tracking_code"]
    with pytest.raises(ValueError):
        new_event("petition.accepted", "p-1", missing, source="intake")
    with pytest.raises(InvalidEvent):
        new_event("petition.teleported", "p-1", {}, source="intake")


def test_derived_id_is_stable_and_distinct():
    event = accepted()
    again = Event.from_json(event.to_json())
    assert event.derived_id("notify", "sms") == again.derived_id("notify", "sms")
    ids = {event.derived_id("notify", "sms"), event.derived_id("notify", "email"),
           event.derived_id("notify"), event.derived_id(), accepted().derived_id("notify", "sms")}
    assert len(ids) == 5
    assert event.derived_id("x") != event.id


def test_every_type_has_a_topic_and_a_unique_dataschema():
    types = REGISTRY.all()
    assert len(types) >= 30
    assert {t.dataschema for t in types} == {f"{SCHEMA_BASE}/{t.type}.v{t.version}.json"
                                            for t in types}
    assert len({t.dataschema for t in types}) == len(types)
    for t in types:
        assert t.topic, t.type
        assert t.topic in REGISTRY.topics()
        assert t in REGISTRY.types_on(t.topic)
        assert t.description, f"{t.type} has no description"


def test_types_on_topic():
    on_petitions = {t.type for t in REGISTRY.types_on("intake.petitions")}
    assert {"petition.received", "petition.accepted", "issue.trending"} <= on_petitions
    assert "commitment.assigned" not in on_petitions
    assert {t.type for t in REGISTRY.types_on("intake.submissions")} == {"petition.submitted"}
    assert REGISTRY.types_on("no.such.topic") == []


def test_progress_reported_also_on_agency_topic():
    progress = REGISTRY.get("commitment.progress_reported")
    assert progress.topic == followup.TOPIC
    assert progress.also_on == (followup.AGENCY_TOPIC, followup.AGENCY_COMMITMENTS)
    assert progress.topics == (followup.TOPIC, followup.AGENCY_TOPIC,
                               followup.AGENCY_COMMITMENTS)
    on_agency = {t.type for t in REGISTRY.types_on(followup.AGENCY_TOPIC)}
    assert on_agency == {"commitment.progress_reported", "commitment.resolution_submitted"}
    assert followup.AGENCY_TOPIC in REGISTRY.topics()
    assert followup.agency_topic("so-tnmt-37") == "agency.so-tnmt-37.reports"


def test_registry_refuses_a_second_registration():
    with pytest.raises(ValueError, match="twice"):
        REGISTRY.register(REGISTRY.get("petition.accepted"))
    assert REGISTRY.latest("petition.accepted") == 1

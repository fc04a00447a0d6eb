"""The dialogue aggregate's commands: each checks the rules and returns the change it makes
and the events it publishes, without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

import services.common.contracts  # noqa: F401  (registers every event type)
from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import new_event
from services.scheduling import agenda, domain, notices

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LOCALITY = {"province_code": "37", "ward_code": "14464"}


def request(**overrides) -> dict:
    body = {
        "kind": "periodic", "level": "commune", "form": None,
        "host": {"name": "Nguyễn Văn An", "title": "Bí thư Đảng ủy xã"},
        "co_chairs": [{"name": "Trần Thị Bình", "title": "Chủ tịch Ủy ban MTTQ xã"},
                      {"name": "Lê Văn Cường", "title": "Chủ tịch HĐND xã"}],
        "lead_agency_id": "ubnd-14464", "coordinating_agency_ids": ["so-tnmt-37"] * 2,
        "format": "in_person", "venue": "Hội trường UBND xã",
        "starts_at": NOW + timedelta(days=10), "ends_at": NOW + timedelta(days=10, hours=3),
        "topic": "Giải phóng mặt bằng",
    }
    body.update(overrides)
    return body


def draft(**overrides) -> dict:
    return domain.new_dialogue("d1", request(**overrides), LOCALITY, NOW, "officer-1")


def test_a_new_dialogue_is_a_draft_with_its_keys():
    doc = draft()
    assert doc["state"] == domain.DRAFT and doc["version"] == 1 and doc["agenda"] == []
    assert doc["form"] == domain.CONFERENCE  # the Front and the council co-chair
    assert doc["host_key"] == "nguyen van an|bi thu dang uy xa"
    assert doc["venue_key"] == "14464|hoi truong ubnd xa"
    assert doc["coordinating_agency_ids"] == ["so-tnmt-37"]
    with pytest.raises(Invalid):
        draft(venue=None)


def test_announce_sets_the_state_and_tells_the_invitees():
    doc = draft()
    change = domain.announce(doc, NOW, None)
    assert change.set["state"] == domain.ANNOUNCED and change.set["announced_at"] == NOW
    [(type_, data)] = change.events
    assert type_ == "dialogue.announced" and data["dialogue_id"] == "d1"
    assert data["venue"] == "Hội trường UBND xã" and data["announced_at"] == NOW
    update = change.update(NOW)
    assert update["$inc"] == {"version": 1} and update["$set"]["updated_at"] == NOW
    with pytest.raises(Conflict):  # less than 7 days ahead
        domain.announce(draft(starts_at=NOW + timedelta(days=3),
                              ends_at=NOW + timedelta(days=3, hours=2)), NOW, None)
    with pytest.raises(Conflict):
        domain.announce({**doc, "state": domain.ANNOUNCED}, NOW, None)


def test_reschedule_moves_the_slot_and_keeps_the_history():
    doc = {**draft(), "state": domain.ANNOUNCED}
    later = {"starts_at": NOW + timedelta(days=12), "ends_at": NOW + timedelta(days=12, hours=2),
             "venue": "Nhà văn hóa thôn Đông", "reason": "Trùng lịch họp"}
    change = domain.reschedule(doc, later, NOW, "officer-2")
    assert change.set["venue_key"] == "14464|nha van hoa thon dong"
    assert change.push["reschedules"]["previous_starts_at"] == doc["starts_at"]
    assert change.push["reschedules"]["by"] == "officer-2"
    [(type_, data)] = change.events
    assert type_ == "dialogue.rescheduled" and data["starts_at"] == later["starts_at"]
    assert domain.moved(doc, later)["venue"] == "Nhà văn hóa thôn Đông"


def test_cancelling_a_draft_tells_nobody():
    assert domain.cancel(draft(), "Không còn cần thiết", NOW).events == []
    announced = {**draft(), "state": domain.ANNOUNCED}
    [(type_, data)] = domain.cancel(announced, "Mưa bão", NOW).events
    assert type_ == "dialogue.cancelled" and data["reason"] == "Mưa bão"


def test_hold_records_what_was_discussed():
    doc = {**draft(), "state": domain.ANNOUNCED, "agenda": [
        {"item_id": "i1", "title": "Ngập úng", "issue_id": "iss-a", "petition_ids": ["p1", "p2"]},
        {"item_id": "i2", "title": "Đèn đường", "issue_id": None, "petition_ids": ["p2"]}]}
    at = doc["starts_at"] + timedelta(minutes=5)
    change = domain.hold(doc, {"attendance": {"total": 40, "citizens": 30}}, at)
    assert change.set["held_at"] == doc["starts_at"] and change.set["held_year"] == 2026
    assert change.set["discussed_petition_ids"] == ["p1", "p2"]
    [(_, data)] = change.events
    assert data["issue_ids"] == ["iss-a"]
    with pytest.raises(Invalid):  # groups add up to more than the total
        domain.hold(doc, {"attendance": {"total": 10, "citizens": 30}}, at)
    with pytest.raises(Conflict):  # before its start
        domain.hold(doc, {"attendance": {"total": 40}}, NOW)


def test_agenda_edits():
    doc = draft()
    add = domain.add_item(doc, "i1", {"title": "Ngập úng", "petition_ids": ["p1", "p1"]})
    assert add.push["agenda"]["petition_ids"] == ["p1"] and add.events == []
    doc["agenda"] = [add.push["agenda"], {**add.push["agenda"], "item_id": "i2"}]
    assert [i["item_id"] for i in domain.reorder(doc, ["i2", "i1"]).set["agenda"]] == [
        "i2", "i1"]
    assert [i["item_id"] for i in domain.remove_item(doc, "i1").set["agenda"]] == ["i2"]
    with pytest.raises(NotFound):
        domain.remove_item(doc, "i9")
    with pytest.raises(Conflict):
        domain.add_item({**doc, "state": domain.HELD}, "i3", {"title": "Muộn"})


def test_conclude_claims_the_number_per_body_and_year():
    held_at = NOW
    doc = {**draft(), "state": domain.HELD, "held_at": held_at}
    change, key = notices.conclude(doc, {
        "notice_number": "Số: 15/TB-UBND", "issued_at": NOW + timedelta(days=3),
        "signed_by": "Nguyễn Văn An",
        "conclusions": [{"text": "Nạo vét kênh", "responsible_agency_id": "ubnd-14464",
                         "deadline": date(2026, 4, 30), "working_days": None}]},
        NOW + timedelta(days=3))
    assert key == "14464|UBND|2026|15"
    assert change.set["state"] == domain.CONCLUDED and change.set["late"] is False
    assert change.set["notice"]["number"] == "15/TB-UBND"
    assert change.set["conclusions"][0]["deadline"] == "2026-04-30"  # stored as text
    [(type_, data)] = change.events
    assert type_ == "dialogue.concluded"
    assert data["conclusions"][0]["deadline"] == date(2026, 4, 30)
    assert data["conclusions"][0]["conclusion_id"] == notices.conclusion_id("d1", 0)


def test_the_read_model_reads_a_petition_s_status():
    closed = new_event("petition.closed", "p1", {
        "petition_id": "p1", "tracking_code": "GV-p1", "locality": LOCALITY,
        "closed_at": NOW}, source="intake")
    assert agenda.status_of(closed) == "closed" and not agenda.is_open("closed")
    closed.data["status"] = "reopened"  # intake's own word wins over the event's type
    assert agenda.status_of(closed) == "reopened" and agenda.is_open("reopened")
    assert all(not agenda.is_open(s) for s in ("rejected", "withdrawn", "answered"))
    assert agenda.is_open("received") and agenda.is_open("assigned")

"""Commitment and compliance events → e-mails to agencies, hosts, secretariats and the Front."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.common.events import new_event
from tests.integration.notify.conftest import START, commitment_facts, locality

HELD = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)  # 15:00 on 02/03/2027 in Vietnam


def test_assigned_emails_the_agency_with_the_dialogue(harness, directory):
    concluded = new_event("dialogue.concluded", "dl-1", {
        "dialogue_id": "dl-1", "locality": locality(),
        "host": {"name": "Trần Văn Hùng", "title": "Bí thư Đảng ủy xã"},
        "topic": "Giao thông nông thôn", "notice_number": "15-TB/ĐU", "issued_at": START,
        "signed_by": "Trần Văn Hùng", "held_at": HELD, "late": False, "conclusions": [],
    }, source="scheduling")
    assigned = new_event("commitment.assigned", "cm-1", {
        **commitment_facts(), "coordinating_agency_ids": ["so-nnmt-37"],
        "host": None, "notice_number": "15-TB/ĐU"}, source="followup")
    harness.deliver(concluded, assigned)
    assert harness.send() == 1
    [mail] = harness.emails(directory["so-xd-37"])
    assert "31/03/2027" in mail["subject"] and "02/03/2027" in mail["subject"]
    assert "15-TB/ĐU" in mail["body"] and "Giao thông nông thôn" in mail["body"]
    assert "Khảo sát, lập phương án nâng cấp tuyến đường" in mail["body"]
    assert "Sở Nông nghiệp và Môi trường" in mail["body"]
    [doc] = harness.notifications(commitment_id="cm-1")
    assert doc["recipient_kind"] == "agency" and doc["dialogue_id"] == "dl-1"


def test_deadline_overdue_and_escalation(harness, directory):
    harness.deliver(
        new_event("commitment.deadline_approaching", "cm-2", {
            **commitment_facts("cm-2"), "working_days_left": 3}, source="followup"),
        new_event("commitment.overdue", "cm-2", {
            **commitment_facts("cm-2", deadline=date(2027, 3, 4))}, source="followup",
            time=START),
        new_event("commitment.escalated", "cm-2", {
            **commitment_facts("cm-2", deadline=date(2027, 3, 4)), "level": 1,
            "working_days_late": 3,
            "host": {"name": "Lê Văn Nam", "title": "Chủ tịch UBND xã"}}, source="followup"),
    )
    assert harness.send() == 4
    approaching, overdue = harness.emails(directory["so-xd-37"])
    assert "còn 3 ngày làm việc" in approaching["subject"]
    assert "31/03/2027" in approaching["subject"]
    # Working days, as the message says: Thu 04/03 → Tue 09/03 is Fri, Mon, Tue.
    assert "Quá hạn 3 ngày làm việc" in overdue["subject"]
    [host] = harness.emails(directory["host"])
    [front] = harness.emails(directory["front"])
    assert "Chủ tịch UBND xã Lê Văn Nam" in host["body"]
    assert "quá hạn 3 ngày" in front["subject"] and "04/03/2027" in front["body"]
    assert {d["recipient_kind"] for d in harness.notifications(commitment_id="cm-2")} == {
        "agency", "host", "front"}


def test_dialogue_required_tells_secretariat_and_front(harness, directory):
    harness.deliver(new_event("dialogue.required", "14464", {
        "locality": locality(), "year": 2027, "requester_count": 812, "voter_count": 7950,
        "threshold": 795, "topics": ["Ô nhiễm từ cụm công nghiệp Gia Vân"]},
        source="scheduling"))
    assert harness.send() == 2
    [secretariat] = harness.emails(directory["secretariat"])
    [front] = harness.emails(directory["front"])
    for mail in (secretariat, front):
        assert "xã Gia Viễn" in mail["subject"] and "812" in mail["subject"]
        assert "795" in mail["body"] and "Ô nhiễm từ cụm công nghiệp Gia Vân" in mail["body"]


def test_without_directory_entry_nothing_is_sent(harness):
    harness.deliver(new_event("commitment.assigned", "cm-3", {
        **commitment_facts("cm-3"), "coordinating_agency_ids": [], "host": None,
        "notice_number": None}, source="followup"))
    assert harness.send() == 0
    assert harness.notifications(commitment_id="cm-3") == []


def test_assigned_before_its_dialogue_waits_for_the_facts(harness, directory):
    assigned = new_event("commitment.assigned", "cm-4", {
        **commitment_facts("cm-4", dialogue_id="dl-4"), "coordinating_agency_ids": [],
        "host": None, "notice_number": None}, source="followup")
    harness.deliver(assigned)
    assert harness.send() == 0
    [doc] = harness.notifications(commitment_id="cm-4")
    assert doc["state"] == "deferred"

    harness.deliver(new_event("dialogue.concluded", "dl-4", {
        "dialogue_id": "dl-4", "locality": locality(),
        "host": {"name": "Trần Văn Hùng", "title": "Bí thư Đảng ủy xã"},
        "topic": "Môi trường cụm công nghiệp", "notice_number": "21-TB/ĐU", "issued_at": START,
        "signed_by": "Trần Văn Hùng", "held_at": HELD, "late": False, "conclusions": [],
    }, source="scheduling"))
    assert harness.send() == 1
    [mail] = harness.emails(directory["so-xd-37"])
    assert "02/03/2027" in mail["subject"]
    assert "21-TB/ĐU" in mail["body"] and "Môi trường cụm công nghiệp" in mail["body"]
    assert "Bí thư Đảng ủy xã Trần Văn Hùng" in mail["body"]

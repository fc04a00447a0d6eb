"""Dialogue invitations, agency notices, reminders, reschedule and cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.clock import VN_TZ
from services.common.events import new_event
from tests.integration.notify.conftest import (
    PHONE,
    START,
    TOPIC,
    announced,
    contact,
    dialogue_facts,
    received,
)

# 08:30 on Friday 19/03/2027 in Vietnam.
DAY = datetime(2027, 3, 19, 8, 30, tzinfo=VN_TZ).astimezone(UTC)
NEW_DAY = datetime(2027, 3, 26, 14, 0, tzinfo=VN_TZ).astimezone(UTC)


def reminders(harness, dialogue_id: str, state: str | None = None):
    query = {"dialogue_id": dialogue_id, "template": "dialogue_reminder"}
    if state:
        query["state"] = state
    return harness.notifications(**query)


def test_announced_invites_petitioners_and_tells_agencies(harness, directory):
    known = received()
    late = received(contact=contact(phone="+84987654321", email=None))
    harness.deliver(known)
    harness.send()
    harness.sinks.clear()

    dialogue = announced("dl-1", [known.subject, late.subject], DAY)
    harness.deliver(dialogue)
    harness.send()

    [sms] = harness.sms()
    assert "19/03/2027" in sms["body"] and "08:30" in sms["body"]
    assert "Hoi truong Uy ban nhan dan xa Gia Vien" in sms["body"]
    [invite] = harness.emails()
    assert "19/03/2027" in invite["body"] and TOPIC in invite["body"]
    lead = harness.emails(directory["ubnd-giavien"])
    coordinating = harness.emails(directory["so-nnmt-37"])
    assert len(lead) == 1 and len(coordinating) == 1
    assert "chủ trì" in lead[0]["body"] and "phối hợp" in coordinating[0]["body"]
    assert "Đơn giá bồi thường đất nông nghiệp" in coordinating[0]["body"]

    # Reminders wait for 48 h and 24 h before, for each channel of the known petitioner.
    waiting = reminders(harness, "dl-1", "pending")
    assert sorted({d["due_at"] for d in waiting}) == [DAY - timedelta(hours=48),
                                                      DAY - timedelta(hours=24)]
    assert len(waiting) == 4

    # The second petition's contact arrives after the announcement: invited then.
    harness.deliver(late)
    harness.send()
    [late_invite] = [m for m in harness.sms("+84987654321") if "19/03/2027" in m["body"]]
    assert "08:30" in late_invite["body"]
    assert len(reminders(harness, "dl-1", "pending")) == 6

    # The day before, the 24 h reminder goes out, and only it.
    harness.sinks.clear()
    harness.clock.now = DAY - timedelta(hours=24)
    harness.send()
    [reminder] = harness.sms(PHONE)
    assert "08:30" in reminder["body"] and "19/03/2027" in reminder["body"]
    assert len(harness.sms("+84987654321")) == 1
    assert len(harness.emails()) == 1


def test_reschedule_replaces_reminders_and_cancel_drops_them(harness, directory):
    petition = received()
    harness.deliver(petition, announced("dl-2", [petition.subject], DAY))
    harness.send()
    old = reminders(harness, "dl-2")
    assert len(old) == 4
    harness.sinks.clear()

    moved = new_event("dialogue.rescheduled", "dl-2", {
        **dialogue_facts("dl-2", [petition.subject], NEW_DAY), "previous_starts_at": DAY,
        "previous_venue": None, "announced_at": START, "reason": "Trùng lịch tiếp công dân.",
    }, source="scheduling")
    harness.deliver(moved, moved)  # and replayed
    harness.send()

    [sms] = harness.sms()
    assert "26/03/2027" in sms["body"] and "14:00" in sms["body"]
    assert len(harness.emails()) == 1
    assert len(harness.emails(directory["ubnd-giavien"])) == 1
    assert {d["state"] for d in reminders(harness, "dl-2") if d["starts_at"] == DAY} == {
        "cancelled"}
    fresh = reminders(harness, "dl-2", "pending")
    assert sorted({d["due_at"] for d in fresh}) == [NEW_DAY - timedelta(hours=48),
                                                    NEW_DAY - timedelta(hours=24)]
    assert len(fresh) == 4
    # Old reminder times pass: nothing is sent for them.
    harness.clock.now = DAY - timedelta(hours=24)
    harness.sinks.clear()
    assert harness.send() == 0

    cancelled = new_event("dialogue.cancelled", "dl-2", {
        **dialogue_facts("dl-2", [petition.subject], NEW_DAY),
        "reason": "Bão số 3 đổ bộ, tỉnh hạn chế tụ tập đông người.", "cancelled_at": START,
    }, source="scheduling")
    harness.deliver(cancelled)
    harness.send()
    assert reminders(harness, "dl-2", "pending") == []
    [sms] = harness.sms()
    assert "Bao so 3" in sms["body"] and "26/03/2027" in sms["body"]
    assert len(harness.emails(directory["so-nnmt-37"])) == 1

    # Nothing more goes out when the reminder times come.
    harness.sinks.clear()
    harness.clock.now = NEW_DAY - timedelta(hours=1)
    assert harness.send() == 0
    assert harness.sms() == []

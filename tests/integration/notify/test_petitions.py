"""Petition events → the exact SMS and e-mail at the sinks, once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from services.common.contracts.codes import new_code
from services.common.contracts.notify import TOPIC as DELIVERIES
from tests.helpers import events_on
from tests.integration.notify.conftest import (
    CODE,
    EMAIL,
    PHONE,
    contact,
    petition_event,
    received,
)


def test_received_sends_code_and_lookup_by_sms_and_email(harness):
    event = received()
    harness.deliver(event)
    assert harness.send() == 2

    [sms] = harness.sms()
    assert CODE in sms["body"]
    assert "8077" in sms["body"] and f"doithoai.ninhbinh.gov.vn/tra-cuu?code={CODE}" in sms["body"]
    assert sms["segments"] <= 2
    [mail] = harness.emails()
    assert CODE in mail["subject"]
    assert "Đường liên thôn Đông Chùa ngập sâu sau mưa lớn" in mail["body"]
    assert "09/03/2027" in mail["body"]
    assert f"/tra-cuu?code={CODE}" in mail["body"]

    docs = harness.notifications(petition_id=event.subject)
    assert {d["state"] for d in docs} == {"sent"}
    assert all(len(d["attempts"]) == 1 for d in docs)
    # Stored encrypted: the plaintext address is nowhere in the document.
    assert not any(PHONE in str(d) or EMAIL in str(d) for d in docs)

    sent = events_on(harness.app.settings, DELIVERIES, min_count=2)
    assert {e["type"] for e in sent} == {"notification.sent"}
    assert {e["data"]["recipient"] for e in sent} == {"+8491****678", "h********n@example.vn"}
    assert all(e["data"]["petition_id"] == event.subject for e in sent)
    assert PHONE not in str(sent) and EMAIL not in str(sent)


def test_replayed_event_sends_once(harness):
    event = received()
    harness.deliver(event, event)
    harness.send()
    harness.deliver(event)
    assert harness.send() == 0
    assert len(harness.sms()) == 1
    assert len(harness.emails()) == 1
    assert len(harness.notifications(petition_id=event.subject)) == 2


def test_without_consent_nothing_is_sent(harness):
    harness.deliver(received(contact=contact(consent=False)))
    assert harness.send() == 0
    assert harness.sms() == [] and harness.emails() == []


def test_rejected_tells_the_reason(harness):
    first = received()
    reason = ("Nội dung khiếu nại đang được Tòa án nhân dân khu vực 5 – Ninh Bình thụ lý, "
              "không thuộc thẩm quyền của Ủy ban nhân dân xã.")
    harness.deliver(first, petition_event("petition.rejected", first.subject, reason=reason,
                                          contact=contact(email=None)))
    harness.send()
    texts = [m["body"] for m in harness.sms()]
    assert len(texts) == 2
    assert "Toa an nhan dan khu vuc 5" in texts[1] and CODE in texts[1]
    # The rejection's own (newer) contact has no e-mail: only the receipt went there.
    assert len(harness.emails()) == 1
    assert harness.store.petition(first.subject)["status"] == "rejected"


def test_answered_sends_the_answer(harness):
    first = received()
    answer = ("Sở Xây dựng đã bố trí 4,2 tỷ đồng nâng cấp tuyến đường liên thôn Đông Chùa – "
              "Đại Hữu, khởi công trong quý I/2027.")
    harness.deliver(first, petition_event(
        "petition.answered", first.subject, answer=answer, commitment_id="cm-9",
        answered_at=datetime(2027, 3, 9, 2, 0, tzinfo=UTC), contact=contact()))
    harness.send()
    mails = harness.emails()
    assert len(mails) == 2
    assert CODE in mails[1]["subject"]
    assert "4,2 tỷ đồng" in mails[1]["body"]
    assert "4,2 ty dong" in harness.sms()[1]["body"]
    [doc] = harness.notifications(template="petition_answered", channel="email")
    assert doc["commitment_id"] == "cm-9"


def test_a_polls_received_petitions_are_written_at_once_and_told_once(harness):
    """A poll's petition.received go together (one bulk write and one find of read
    models): a petition received before is a replay there too, and one twice in the
    poll (republished by intake's relay) is told once."""
    codes = [CODE, new_code(), new_code()]
    before, new, other = (received(code=c) for c in codes)
    harness.deliver(before)
    harness.send()
    harness.service.dispatch.petitions_received([new, before, other, new])
    harness.send()
    harness.clock.advance(seconds=harness.app.settings.lease_seconds + 1)
    harness.send()  # a replay's copy, due when the claim lapses, is not sent again
    bodies = [m["body"] for m in harness.sms()]
    assert len(bodies) == 3 and len(harness.emails()) == 3
    assert [sum(code in b for b in bodies) for code in codes] == [1] * 3
    for event in (before, new, other):
        docs = harness.notifications(petition_id=event.subject)
        assert sorted(d["channel"] for d in docs) == ["email", "sms"]
        assert {d["state"] for d in docs} == {"sent"}
        assert harness.store.petition(event.subject)["status"] == "received"


def test_a_claim_taken_between_the_polls_read_and_write_is_not_ours(harness, monkeypatch):
    """Another consumer (a rebalance) claims a petition's acknowledgement between the
    batch's find and its bulk write: the batch sees its update missed, reads back, and
    leaves that claim to its holder."""
    store = harness.store
    a, b = received(code=new_code()), received(code=new_code())
    store.listed_on(b.subject, "dlg-1")  # known (listed by a dialogue), not yet received
    real = store.petitions
    until = harness.clock() + timedelta(minutes=2)

    class Racing:
        def __getattr__(self, name):
            return getattr(real, name)

        def find(self, *args, **kwargs):
            docs = list(real.find(*args, **kwargs))
            monkeypatch.setattr(store, "petitions", real)
            _, ours = store.receive_claiming(b.subject, {"title": "khác"}, {}, until)
            assert ours  # the other consumer's
            return docs

    monkeypatch.setattr(store, "petitions", Racing())
    dispatch = harness.service.dispatch
    written = store.receive_claiming_many(
        {e.subject: dispatch._received(e) for e in (a, b)}, until)
    assert written[a.subject][1] is True and written[b.subject][1] is False
    assert written[b.subject][0]["dialogue_ids"] == ["dlg-1"]


def test_a_polls_acknowledgements_go_side_by_side_one_citizens_in_order(harness, monkeypatch):
    """A gateway answers in tens to hundreds of milliseconds: a poll's acknowledgements
    to different citizens are handed to it at once, while one citizen's two petitions
    are told one after the other, in order. A barrier of two SMS proves the first (one
    at a time, it would wait out its timeout and break); a count of sends in flight per
    number proves the second."""
    sms = harness.service.senders.sms
    send = sms.send
    together = threading.Barrier(2, timeout=30)
    lock = threading.Lock()
    flying: dict[str, int] = {}
    most: dict[str, int] = {}
    order: list[str] = []

    def gated(to, text, key):
        with lock:
            flying[to] = flying.get(to, 0) + 1
            most[to] = max(most.get(to, 0), flying[to])
            order.append(text)
        try:
            if to != PHONE:
                together.wait()  # the two other citizens' at once, or BrokenBarrierError
            return send(to, text, key)
        finally:
            with lock:
                flying[to] -= 1

    monkeypatch.setattr(sms, "send", gated)
    first, second = received(code=new_code()), received(code=new_code())
    others = [received(code=new_code(), contact=contact(phone=p, email=None))
              for p in ("0912000111", "0912000222")]
    harness.service.dispatch.petitions_received([first, *others, second])
    assert harness.send() == 6  # four SMS, two e-mails (the first citizen's)
    assert not together.broken and most[PHONE] == 1
    mine = [t for t in order if first.data["tracking_code"] in t
            or second.data["tracking_code"] in t]
    assert first.data["tracking_code"] in mine[0] and second.data["tracking_code"] in mine[1]


def test_a_polls_acknowledgements_are_written_with_one_insert(harness, monkeypatch):
    """Sent side by side, a poll's acknowledgements are then written together: one
    insert of notifications for the poll, not one each."""
    store = harness.store
    real = store.notifications
    writes: list[str] = []

    class Counting:
        def __getattr__(self, name):
            attr = getattr(real, name)
            if not name.startswith(("insert", "replace", "update")):
                return attr

            def counted(*args, **kwargs):
                writes.append(name)
                return attr(*args, **kwargs)
            return counted

    monkeypatch.setattr(store, "notifications", Counting())
    phones = ("0912000111", "0912000222", "0912000333")
    events = [received(code=new_code(), contact=contact(phone=p, email=None)) for p in phones]
    harness.service.dispatch.petitions_received(events)
    assert writes == ["insert_many"]
    for event in events:
        [doc] = harness.notifications(petition_id=event.subject)
        assert doc["state"] == "sent" and doc["attempt_count"] == 1
    assert [len(harness.sms(to="+84" + p[1:])) for p in phones] == [1, 1, 1]

"""Retries, permanent failures, quiet hours and expired claims, against the real gateway."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from services.common.clock import VN_TZ
from services.common.contracts.notify import TOPIC as DELIVERIES
from tests.helpers import events_on
from tests.integration.notify.conftest import PHONE, contact, received


def test_two_transient_failures_then_success(harness):
    harness.sinks.fault(PHONE, [503, 503])
    event = received(contact=contact(email=None))
    harness.deliver(event)

    assert harness.send() == 1
    [doc] = harness.notifications(petition_id=event.subject)
    assert doc["state"] == "pending" and doc["attempt_count"] == 1
    assert doc["due_at"] == harness.clock.now + timedelta(seconds=30)
    assert harness.send() == 0  # not due yet

    harness.clock.advance(seconds=30)
    assert harness.send() == 1
    harness.clock.advance(seconds=60)  # the backoff doubled
    assert harness.send() == 1

    [sms] = harness.sms()
    assert event.data["tracking_code"] in sms["body"]
    [doc] = harness.notifications(petition_id=event.subject)
    assert doc["state"] == "sent"
    assert [a["outcome"] for a in doc["attempts"]] == ["transient", "transient", "sent"]
    assert [a["status"] for a in doc["attempts"][:2]] == [503, 503]
    [sent] = events_on(harness.app.settings, DELIVERIES)
    assert sent["type"] == "notification.sent" and sent["data"]["attempts"] == 3


def test_permanent_failure_fails_at_once_with_the_reason(harness, web, token):
    harness.sinks.fault(PHONE, [{"status": 400, "message": "Thue bao khong ton tai"}])
    event = received(contact=contact(email=None))
    harness.deliver(event)
    assert harness.send() == 1
    [doc] = harness.notifications(petition_id=event.subject)
    assert doc["state"] == "failed" and doc["attempt_count"] == 1
    assert "Thue bao khong ton tai" in doc["reason"]
    assert harness.sms() == []
    [failed] = events_on(harness.app.settings, DELIVERIES)
    assert failed["type"] == "notification.failed"
    assert "Thue bao khong ton tai" in failed["data"]["reason"]
    assert failed["data"]["recipient"] == "+8491****678"

    # An admin sends it again once the number works.
    resp = web.post(f"/api/v1/notifications/{doc['_id']}/retry", headers=token("secretariat"))
    assert resp.status_code == 403
    resp = web.post(f"/api/v1/notifications/{doc['_id']}/retry", headers=token("admin"))
    assert resp.status_code == 200 and resp.json["status"] == "pending"
    assert harness.send() == 1
    assert len(harness.sms()) == 1
    resp = web.get(f"/api/v1/notifications/{doc['_id']}", headers=token("admin"))
    assert resp.json["status"] == "sent"
    assert [a["outcome"] for a in resp.json["attempts"]] == ["permanent", "sent"]
    resp = web.post(f"/api/v1/notifications/{doc['_id']}/retry", headers=token("admin"))
    assert resp.status_code == 409


def test_transient_failures_exhaust_attempts(notify_settings, clock, sinks):
    from services.notify import bootstrap
    from tests.integration.notify.conftest import Harness

    app = bootstrap.build(notify_settings(send_attempts=2, retry_backoff=0.0), clock)
    app.prepare()
    harness = Harness(app, clock, sinks)
    try:
        sinks.clear()
        sinks.fault(PHONE, [503, 503, 503])
        event = received(contact=contact(email=None))
        harness.service.dispatch.petition_received(event)
        assert harness.send() == 1
        clock.advance(hours=1)  # past any Retry-After the gateway asked for
        assert harness.send() == 1
        assert harness.send() == 0
        [doc] = harness.notifications(petition_id=event.subject)
        assert doc["state"] == "failed" and "gave up after 2 attempts" in doc["reason"]
    finally:
        harness.close()


def test_quiet_hours_defer_sms_to_seven(harness):
    harness.clock.now = datetime(2027, 3, 9, 22, 0, tzinfo=VN_TZ).astimezone(UTC)
    event = received()
    harness.deliver(event)
    assert harness.send() == 2
    assert harness.sms() == []
    assert len(harness.emails()) == 1  # e-mail is not held back
    [sms] = harness.notifications(petition_id=event.subject, channel="sms")
    assert sms["state"] == "deferred"
    assert sms["due_at"] == datetime(2027, 3, 10, 7, 0, tzinfo=VN_TZ).astimezone(UTC)

    harness.clock.now = datetime(2027, 3, 10, 6, 59, tzinfo=VN_TZ).astimezone(UTC)
    assert harness.send() == 0
    harness.clock.now = datetime(2027, 3, 10, 7, 0, tzinfo=VN_TZ).astimezone(UTC)
    assert harness.send() == 1
    assert len(harness.sms()) == 1


def test_a_crashed_senders_claim_expires(harness):
    harness.service.inbound.sms(PHONE, "?", "in-crash")  # a reply, queued for the sender
    lease = timedelta(seconds=harness.app.settings.lease_seconds)
    [due] = harness.store.due(harness.clock(), 10)
    claimed = harness.store.claim(due["_id"], harness.clock(), lease, "crashed-sender")
    assert claimed["state"] == "sending"
    assert harness.store.claim(due["_id"], harness.clock(), lease, "other") is None
    assert harness.send() == 0  # still held
    harness.clock.advance(seconds=harness.app.settings.lease_seconds)
    assert harness.send() == 1
    assert len(harness.sms()) == 1
    # The crashed sender wakes up: its claim is gone, its outcome is not recorded.
    assert not harness.store.finish(claimed["_id"], "crashed-sender", {"$set": {"state": "x"}})


def test_an_acknowledgement_claimed_by_a_crashed_consumer_is_sent_by_a_sender(harness):
    # The consumer claims the acknowledgement (in the petition's read model) and dies
    # before sending it. The event is handled again (here by the consumer's retry, as
    # by the partition's next owner after a crash): it finds the claim, and writes the
    # acknowledgement for a sender, due when the claim lapses.
    crashed = []

    def crash(written) -> None:
        crashed.append(written.doc["_id"])
        raise RuntimeError("the consumer died here")

    harness.app.service.notifier.send_now = crash
    event = received(contact=contact(email=None))
    harness.deliver(event)
    [doc] = harness.notifications(petition_id=event.subject)
    assert crashed == [doc["_id"]]
    assert doc["state"] == "pending" and harness.sms() == []
    assert harness.send() == 0  # its claim holds
    harness.clock.advance(seconds=harness.app.settings.lease_seconds)
    assert harness.send() == 1
    [sms] = harness.sms()
    assert event.data["tracking_code"] in sms["body"]


def test_two_senders_draining_one_backlog_send_each_message_once(harness):
    phones = [f"+8491234{n:04d}" for n in range(12)]
    for n, phone in enumerate(phones):  # replies to inbound SMS wait for a sender
        harness.service.inbound.sms(phone, "?", f"in-{n}")
    counts: list[int] = []

    def sender() -> None:
        counts.append(harness.app.send_due())

    pool = [threading.Thread(target=sender) for _ in range(2)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert sum(counts) == 12
    assert sorted(len(harness.sms(p)) for p in phones) == [1] * 12
    assert harness.send() == 0


def test_after_a_provider_timeout_the_consumer_leaves_sending_to_the_sender(harness):
    first, second = (received(code=f"NB25-4K7Q{n}Z", contact=contact(email=None))
                     for n in (1, 2))
    harness.sinks.fault(PHONE, [503])
    harness.deliver(first)  # sent at once: the provider fails for now
    [doc] = harness.notifications(petition_id=first.subject)
    assert doc["state"] == "pending" and doc["attempt_count"] == 1
    harness.deliver(second)  # within the minute: written for the sender, not sent here
    [doc] = harness.notifications(petition_id=second.subject)
    assert doc["state"] == "pending" and doc["attempt_count"] == 0
    harness.sent_at_once = 0
    assert harness.app.send_due() == 1  # the second one; the first waits for its backoff
    assert len(harness.sms()) == 1

"""eSMS and Zalo ZNS through their stand-ins: requests, signed delivery reports coming
back over real HTTP, ZNS -> SMS fallback exactly once, the single-use refresh token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from werkzeug.serving import make_server

from services.common.contracts.codes import new_code
from services.notify import bootstrap
from services.notify.channels import PermanentError, TransientError
from services.notify.providers import EsmsSms, ZaloTokens, callback_signature, zalo_signature
from tests.helpers import wait_for
from tests.integration.conftest_sinks import free_port
from tests.integration.notify.conftest import PHONE, Harness, contact, received


@pytest.fixture
def live(notify_settings, clock, sinks) -> Iterator[tuple[Harness, str]]:
    """Notify's web app on a real port, so the stand-ins can call it back."""
    sinks.clear()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = bootstrap.build(notify_settings(callback_base_url=base), clock)
    app.prepare()
    server = make_server("127.0.0.1", port, app.web(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sinks.configure(zalo_webhook=f"{base}/api/v1/callbacks/zalo")
    harness = Harness(app, clock, sinks)
    try:
        yield harness, base
    finally:
        sinks.configure(zalo_webhook=None)
        server.shutdown()
        harness.close()


def delivery(harness: Harness, doc_id: str) -> str | None:
    return (harness.store.get_notification(doc_id) or {}).get("delivery")


def acknowledged_and_reported(harness: Harness, outcome: str = "delivered") -> dict:
    """A petition's acknowledgement SMS, sent and reported (``outcome``) by the stand-in."""
    event = received(contact=contact(email=None))
    harness.service.dispatch.petition_received(event)
    assert harness.send() == 1
    [doc] = harness.notifications(petition_id=event.subject)
    wait_for(lambda: delivery(harness, doc["_id"]) == outcome, timeout=30,
             message=f"eSMS report: {outcome}")
    return harness.store.get_notification(doc["_id"])


def esms_report(harness: Harness, base: str, nid: str, status: str, sms_id: str) -> dict:
    """A correctly signed eSMS delivery report for notification ``nid``: the answer."""
    answer = requests.get(f"{base}/api/v1/callbacks/esms", timeout=5, params={
        "n": nid, "sig": callback_signature(harness.app.settings.callback_secret, nid),
        "SMSID": sms_id, "SendStatus": status})
    assert answer.status_code == 200
    return answer.json()


def test_esms_sms_delivered_report_and_forged_report(live):
    harness, base = live
    event = received(contact=contact(email=None))
    harness.service.dispatch.petition_received(event)
    assert harness.send() == 1

    [sms] = harness.sms()
    assert sms["provider"] == "esms" and sms["from"] == "DOITHOAI" and sms["sms_type"] == "2"
    [doc] = harness.notifications(petition_id=event.subject)
    assert sms["idempotency_key"] == doc["_id"]  # RequestId
    assert doc["state"] == "sent" and doc["provider_message_id"] == sms["id"]

    # The stand-in calls the signed CallbackUrl back after its delay.
    wait_for(lambda: delivery(harness, doc["_id"]) == "delivered", timeout=30,
             message="eSMS delivery report")
    admin = {"Authorization": "Bearer " + _token(harness)}
    view = requests.get(f"{base}/api/v1/notifications/{doc['_id']}", headers=admin,
                        timeout=5).json()
    assert view["delivery_status"] == "delivered" and view["status"] == "sent"
    assert [r["outcome"] for r in view["reports"]] == ["delivered"]
    metrics = requests.get(f"{base}/metrics", timeout=5).text
    assert 'notify_notifications{channel="sms",delivery="delivered"} 1' in metrics

    # A forged report (wrong signature) is refused and changes nothing; so is a report
    # signed for another notification.
    forged = requests.get(f"{base}/api/v1/callbacks/esms", timeout=5, params={
        "n": doc["_id"], "sig": "0" * 64, "SMSID": sms["id"], "SendStatus": "4"})
    assert forged.status_code == 401
    other = callback_signature(harness.app.settings.callback_secret, "another-id")
    forged = requests.get(f"{base}/api/v1/callbacks/esms", timeout=5, params={
        "n": doc["_id"], "sig": other, "SendStatus": "4"})
    assert forged.status_code == 401
    assert delivery(harness, doc["_id"]) == "delivered"
    assert len(harness.store.get_notification(doc["_id"])["reports"]) == 1
    assert "notify_delivery_reports_total" in requests.get(f"{base}/metrics", timeout=5).text


def test_a_repeated_report_is_kept_in_the_history_and_moves_nothing(live):
    """eSMS retries its report: the first moves the state, a later one (even a
    contrary one) is only kept; a signed report for a message we never sent is not
    ours."""
    harness, base = live
    doc = acknowledged_and_reported(harness)

    def report(nid: str, status: str) -> dict:
        return esms_report(harness, base, nid, status, "again")

    assert report(doc["_id"], "4") == {"status": "recorded", "delivery": "delivered"}
    after = harness.store.get_notification(doc["_id"])
    assert after["delivery"] == "delivered" and after["state"] == "sent"
    assert [(r["outcome"], r.get("code")) for r in after["reports"]] == [
        ("delivered", "5"), ("failed", "4")]
    assert report("not-ours", "5") == {"status": "unknown", "delivery": None}
    assert harness.store.get_notification("not-ours") is None


def test_an_esms_report_that_outruns_the_writing_of_its_send_is_held(live):
    """A poll's acknowledgements are written together once all are sent, so eSMS may
    report one before it is stored: the report is held by its SMSID and applied once
    the notification is there."""
    harness, base = live
    doc = acknowledged_and_reported(harness)
    harness.store.notifications.delete_one({"_id": doc["_id"]})  # as if not written yet
    nid = doc["_id"]
    answer = esms_report(harness, base, nid, "5", doc["provider_message_id"])
    assert answer == {"status": "unknown", "delivery": None}
    assert [h["message_id"] for h in harness.store.held_reports()] == [
        doc["provider_message_id"]]
    harness.store.notifications.insert_one({**doc, "reports": [], "delivery": None})
    assert harness.service.inbound.apply_held_reports() == 1
    assert delivery(harness, nid) == "delivered"
    assert harness.store.held_reports() == []


def test_esms_undelivered_report(live):
    harness, _ = live
    harness.sinks.fault(PHONE, [{"report": "failed"}])
    doc = acknowledged_and_reported(harness, "failed")
    assert doc["reports"][0]["code"] == "4"


def test_esms_adapter_answers(sinks):
    sinks.clear()
    good = EsmsSms(base_url=sinks.url, api_key="dev-esms-api-key",
                   secret_key="dev-esms-secret-key", brandname="DOITHOAI")
    first = good.send(PHONE, "Thu nghiem", "req-1")
    again = good.send(PHONE, "Thu nghiem", "req-1")  # RequestId seen: 124, not a new SMS
    assert first.status == again.status == "accepted"
    assert len(sinks.messages("sms", PHONE)) == 1
    bad = EsmsSms(base_url=sinks.url, api_key="dev-esms-api-key", secret_key="wrong",
                  brandname="DOITHOAI")
    with pytest.raises(PermanentError) as err:
        bad.send(PHONE, "Thu nghiem", "req-2")
    assert err.value.code == "101"
    unknown = EsmsSms(base_url=sinks.url, api_key="dev-esms-api-key",
                      secret_key="dev-esms-secret-key", brandname="KHAC")
    with pytest.raises(PermanentError) as err:
        unknown.send(PHONE, "Thu nghiem", "req-3")
    assert err.value.code == "104"
    sinks.fault(PHONE, [503])
    with pytest.raises(TransientError):
        good.send(PHONE, "Thu nghiem", "req-4")


def test_the_stand_in_retries_a_refused_report_later_on_one_connection(sinks):
    """eSMS calls the CallbackUrl back and retries a refused report, each retry a delay
    later; the stand-in keeps its connection to the receiver alive between them."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, int]] = []

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.path, self.client_address[1]))
            status = 500 if len(seen) < 3 else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/report?n=abc"
    sinks.clear()
    try:
        sms = EsmsSms(base_url=sinks.url, api_key="dev-esms-api-key",
                      secret_key="dev-esms-secret-key", brandname="DOITHOAI",
                      callback_url=lambda key: url)
        sent = sms.send(PHONE, "Thu nghiem", "req-retry")
        wait_for(lambda: len(seen) == 3, timeout=30, message="three report attempts")
    finally:
        server.shutdown()
    assert all(path.startswith("/report?n=abc&") and f"SMSID={sent.message_id}" in path
               for path, _ in seen)
    assert len({port for _, port in seen}) == 1  # one kept-alive connection
    calls = [c for c in sinks.callbacks() if c["url"].endswith("/report")]
    assert [(c["attempt"], c["status"]) for c in calls] == [(1, 500), (2, 500), (3, 200)]


def test_zalo_choice_goes_by_zns_and_is_reported_delivered(live):
    harness, base = live
    refreshes = harness.sinks.zalo_stats()["refreshes"]
    event = received(contact=contact(email=None, channel="zalo"))
    harness.service.dispatch.petition_received(event)
    assert harness.send() == 1

    [zalo] = harness.sinks.messages("zalo", PHONE)
    assert zalo["provider"] == "zns" and zalo["template_id"] == "100001"
    assert zalo["template_data"]["ma_tra_cuu"] == event.data["tracking_code"]
    link = zalo["template_data"]["duong_dan"]
    assert link.endswith(f"/tra-cuu?code={event.data['tracking_code']}")
    assert harness.sms() == []
    [doc] = harness.notifications(petition_id=event.subject)
    assert doc["channel"] == "zalo" and doc["provider_message_id"] == zalo["id"]
    # The first send refreshed the token with the configured refresh token, once.
    assert harness.sinks.zalo_stats()["refreshes"] == refreshes + 1
    stored = harness.app.kit.db["credentials"].find_one({"_id": "zalo"})
    assert stored["version"] == 1 and "rt_" not in str(stored)  # encrypted at rest

    # The worker's held-reports job runs too: the stand-in may report delivery before
    # the answer to the send is written (see the next test).
    wait_for(lambda: harness.service.inbound.apply_held_reports() >= 0
             and delivery(harness, doc["_id"]) == "delivered", timeout=30,
             message="Zalo user_received_message")
    # Delivered in time: no SMS, even when the timeout sweep runs later.
    harness.clock.advance(seconds=harness.app.settings.zns_fallback_seconds + 1)
    assert harness.service.delivery.zns_timeouts() == 0
    assert harness.send() == 0 and harness.sms() == []

    # A webhook with a wrong signature is refused.
    body = b'{"app_id":"dev-zalo-app","event_name":"user_received_message","timestamp":"1"}'
    resp = requests.post(f"{base}/api/v1/callbacks/zalo", data=body, timeout=5, headers={
        "Content-Type": "application/json", "X-ZEvent-Signature": "mac=" + "0" * 64})
    assert resp.status_code == 401
    good = zalo_signature("dev-zalo-app", body, "1", harness.app.settings.zalo_oa_secret)
    resp = requests.post(f"{base}/api/v1/callbacks/zalo", data=body, timeout=5, headers={
        "Content-Type": "application/json", "X-ZEvent-Signature": good})
    assert resp.status_code == 200 and resp.json()["status"] == "unknown"


def test_a_report_that_outruns_its_send_is_applied_once_the_send_is_recorded(live):
    harness, base = live
    harness.sinks.configure(zalo_webhook=None)  # the report is sent by hand below
    event = received(contact=contact(email=None, channel="zalo"))
    harness.service.dispatch.petition_received(event)
    assert harness.send() == 1
    [doc] = harness.notifications(petition_id=event.subject)
    msg_id = doc["provider_message_id"]
    # As if Zalo's webhook came before the sender had written the answer to its send.
    harness.store.notifications.update_one({"_id": doc["_id"]},
                                           {"$unset": {"provider_message_id": ""}})
    stamp = "1764400000000"
    body = (f'{{"app_id":"dev-zalo-app","event_name":"user_received_message",'
            f'"message":{{"msg_id":"{msg_id}","delivery_time":"{stamp}"}},'
            f'"timestamp":"{stamp}"}}').encode()
    mac = zalo_signature("dev-zalo-app", body, stamp, harness.app.settings.zalo_oa_secret)
    resp = requests.post(f"{base}/api/v1/callbacks/zalo", data=body, timeout=5, headers={
        "Content-Type": "application/json", "X-ZEvent-Signature": mac})
    assert resp.status_code == 200 and resp.json()["status"] == "unknown"
    assert harness.service.inbound.apply_held_reports() == 0  # still not ours: kept
    assert delivery(harness, doc["_id"]) is None

    harness.store.notifications.update_one({"_id": doc["_id"]},
                                           {"$set": {"provider_message_id": msg_id}})
    assert harness.service.inbound.apply_held_reports() == 1
    assert delivery(harness, doc["_id"]) == "delivered"
    assert harness.store.held_reports() == []
    # Delivered: the timeout sweep sends no SMS.
    harness.clock.advance(seconds=harness.app.settings.zns_fallback_seconds + 1)
    assert harness.service.delivery.zns_timeouts() == 0 and harness.sms() == []

    # A report for a message that never becomes ours is dropped after an hour.
    harness.service.inbound.delivery_report("zalo", delivered=True, detail={},
                                            message_id="not-ours")
    assert [h["message_id"] for h in harness.store.held_reports()] == ["not-ours"]
    harness.clock.advance(minutes=59)
    harness.service.inbound.apply_held_reports()
    assert len(harness.store.held_reports()) == 1
    harness.clock.advance(minutes=2)
    assert harness.service.inbound.apply_held_reports() == 0
    assert harness.store.held_reports() == []


def test_zns_refused_falls_back_to_sms_exactly_once(harness):
    harness.sinks.fault("zalo:" + PHONE, [{"error": -118,
                                           "message": "Zalo account not existed"}])
    event = received(contact=contact(email=None, channel="zalo"))
    harness.service.dispatch.petition_received(event)
    assert harness.send() == 2  # the Zalo message fails, its SMS goes in the same pass

    zalo, sms = harness.notifications(petition_id=event.subject)
    assert zalo["channel"] == "zalo" and zalo["state"] == "failed"
    assert "Zalo account not existed" in zalo["reason"]
    assert sms["channel"] == "sms" and sms["fallback_of"] == zalo["_id"]
    assert zalo["fallback_id"] == sms["_id"] and sms["state"] == "sent"
    [text] = harness.sms()
    assert event.data["tracking_code"] in text["body"]
    # Whatever else happens to the Zalo message, no second SMS.
    assert not harness.service.delivery.fallback(zalo, "again")
    harness.service.inbound.delivery_report("zalo", delivered=False, detail={},
                                    notification_id=zalo["_id"])
    harness.clock.advance(seconds=harness.app.settings.zns_fallback_seconds + 1)
    assert harness.service.delivery.zns_timeouts() == 0
    assert harness.send() == 0
    assert len(harness.sms()) == 1


def test_zns_without_report_in_time_falls_back_once(harness):
    harness.sinks.fault("zalo:" + PHONE, [{"report": "none"}])
    event = received(contact=contact(email=None, channel="zalo"))
    harness.service.dispatch.petition_received(event)
    assert harness.send() == 1
    [zalo] = harness.notifications(petition_id=event.subject)
    assert zalo["state"] == "sent" and harness.sms() == []

    harness.clock.advance(seconds=harness.app.settings.zns_fallback_seconds - 1)
    assert harness.service.delivery.zns_timeouts() == 0
    harness.clock.advance(seconds=2)
    assert harness.service.delivery.zns_timeouts() == 1
    assert harness.service.delivery.zns_timeouts() == 0
    assert harness.send() == 1
    # The report arriving late is recorded, and changes nothing more.
    harness.service.inbound.delivery_report("zalo", delivered=True, detail={},
                                    message_id=zalo["provider_message_id"])
    assert harness.send() == 0
    assert len(harness.sms()) == 1
    docs = harness.notifications(petition_id=event.subject)
    assert [d["channel"] for d in docs] == ["zalo", "sms"]
    assert docs[0]["delivery"] == "failed" and len(docs[0]["reports"]) == 2


def test_refresh_token_is_spent_once_across_processes(harness):
    """Two processes find the access token expired at once: one refreshes, both use it."""
    settings = harness.app.settings
    sinks = harness.sinks
    before = sinks.zalo_stats()["refreshes"]

    def tokens() -> ZaloTokens:
        other = bootstrap.build(settings, harness.clock)  # its own client, as another process
        apps.append(other)
        return other.service.senders.zalo.tokens

    apps: list = []
    pair = [tokens(), tokens()]
    got: list[str] = []
    threads = [threading.Thread(target=lambda t=t: got.append(t.access_token())) for t in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(got) == 2 and got[0] == got[1]
        assert sinks.zalo_stats()["refreshes"] == before + 1
        # Zalo refuses the access token (-124): the next send refreshes with the new
        # refresh token (the first one is spent) and goes through.
        requests.post(f"{sinks.url}/zalo/expire", timeout=5).raise_for_status()
        event = received(contact=contact(email=None, channel="zalo"))
        harness.service.dispatch.petition_received(event)
        assert harness.send() == 1
        [doc] = harness.notifications(petition_id=event.subject)
        assert doc["state"] == "pending" and doc["attempts"][0]["code"] == "-124"
        harness.clock.advance(seconds=60)
        assert harness.send() == 1
        assert harness.store.get_notification(doc["_id"])["state"] == "sent"
        assert sinks.zalo_stats()["refreshes"] == before + 2
        stored = harness.app.kit.db["credentials"].find_one({"_id": "zalo"})
        assert stored["version"] == 2 and stored["lease_token"] is None
    finally:
        for app in apps:
            app.close()


def _token(harness: Harness) -> str:
    from services.common.auth import issue_token

    return issue_token(harness.app.settings, "u-admin", ["admin"])


def test_night_acknowledgement_at_once_reminder_waits(notify_settings, sinks):
    """04:30 in Vietnam: the acknowledgement of a petition just submitted goes at once;
    a reminder, and an acknowledgement of a petition received hours ago, wait for 07:00."""
    from datetime import UTC, datetime

    from services.common.clock import VN_TZ, FixedClock

    night = datetime(2027, 3, 10, 4, 30, tzinfo=VN_TZ).astimezone(UTC)
    clock = FixedClock(night)
    sinks.clear()
    app = bootstrap.build(notify_settings(), clock)
    app.prepare()
    harness = Harness(app, clock, sinks)
    try:
        fresh = received(contact=contact(email=None), received_at=night)
        harness.service.dispatch.petition_received(fresh)
        stale = received(contact=contact(phone="+84987654321", email=None),
                         received_at=night - timedelta(hours=3))
        harness.service.dispatch.petition_received(stale)
        from tests.integration.notify.conftest import announced

        harness.service.dispatch.dialogue_announced(announced(
            "dl-night", [fresh.subject], night + timedelta(hours=24, minutes=1)))
        clock.advance(seconds=120)  # the 24-hour reminder is due, at 04:32
        harness.send()
        [ack] = harness.sms()
        assert fresh.data["tracking_code"] in ack["body"]
        wake = datetime(2027, 3, 10, 7, 0, tzinfo=VN_TZ).astimezone(UTC)
        [late] = harness.notifications(petition_id=stale.subject)
        assert late["state"] == "deferred" and late["due_at"] == wake
        reminder = harness.notifications(template="dialogue_reminder", petition_id=fresh.subject)
        invite = harness.notifications(template="dialogue_invitation", petition_id=fresh.subject)
        assert [d["state"] for d in reminder + invite] == ["deferred", "deferred"]
        assert all(d["due_at"] == wake for d in reminder + invite)
        clock.advance(seconds=int((wake - clock.now).total_seconds()))
        assert harness.send() == 3
        assert len(sinks.messages("sms")) == 4
    finally:
        harness.close()


def test_codes_typed_casually_at_night_get_an_answer_at_once(notify_settings, sinks):
    """04:30: 'tt 7k4m q2xc' (no dash, lower case) is answered at once; 'huy <code>' stops
    the petition's messages and is confirmed at once."""
    from datetime import UTC, datetime

    from services.common.clock import VN_TZ, FixedClock
    from services.common.contracts.codes import new_code
    from tests.integration.notify.conftest import petition_event

    night = datetime(2027, 3, 10, 4, 30, tzinfo=VN_TZ).astimezone(UTC)
    clock = FixedClock(night)
    sinks.clear()
    app = bootstrap.build(notify_settings(), clock)
    app.prepare()
    harness = Harness(app, clock, sinks)
    try:
        code = new_code("NB")
        event = received(code=code, contact=contact(email=None),
                         received_at=night - timedelta(days=2))
        harness.service.dispatch.petition_received(event)
        harness.service.dispatch.petition_status("accepted")(petition_event(
            "petition.accepted", event.subject, code=code, accepted_at=night))
        typed = code.split("-", 1)[1].replace("-", " ").lower()
        assert harness.service.inbound.sms("0912345678", f"tt {typed}", "in-1") == (
            "sms_status_reply")
        assert harness.service.inbound.sms("0912345678", f"Huỷ {typed}", "in-2") == (
            "sms_stop_reply")
        harness.send()
        status, stop = harness.sms()
        assert code in status["body"] and "Da thu ly" in status["body"]
        assert code in stop["body"]
        # The acknowledgement of the two-day-old petition waited, and is now stopped.
        [ack] = harness.notifications(petition_id=event.subject, template="petition_received")
        assert ack["state"] == "cancelled"
    finally:
        harness.close()


def test_a_polls_zalo_messages_refused_fall_back_and_say_so(harness):
    """Acknowledgements written together after a poll's sends: a refused Zalo message,
    not yet written when its SMS is created, is written with the link to that SMS."""
    phones = ("0912000111", "0912000222")
    for phone in phones:
        harness.sinks.fault("zalo:+84" + phone[1:], [{"error": -118,
                                                      "message": "Zalo account not existed"}])
    events = [received(code=new_code(), contact=contact(phone=p, email=None, channel="zalo"))
              for p in phones]
    harness.service.dispatch.petitions_received(events)
    harness.send()
    for event, phone in zip(events, phones, strict=True):
        zalo, sms = harness.notifications(petition_id=event.subject)
        assert zalo["channel"] == "zalo" and zalo["state"] == "failed"
        assert sms["fallback_of"] == zalo["_id"] and zalo["fallback_id"] == sms["_id"]
        assert [m["body"] for m in harness.sms(to="+84" + phone[1:])] and sms["state"] == "sent"

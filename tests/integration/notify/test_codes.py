"""The one-time code of a dialogue request (#19): scheduling issues it, notify sends it by
SMS at once (even at night), the citizen confirms with what the SMS says."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.common.clock import VN_TZ
from services.common.contracts.scheduling import TOPIC
from services.common.events import Event
from services.scheduling import bootstrap as scheduling
from services.scheduling.settings import scheduling_settings
from tests.helpers import events_on, wait_for

PHONE = "+84912000077"
REQUESTS = "/api/v1/dialogue-requests"


@pytest.fixture
def scheduling_web(harness, make_settings):
    # Scheduling on the same topic prefix as notify's harness: its event reaches notify's
    # consumer through the real broker.
    built = scheduling.build(scheduling_settings(make_settings(service="scheduling")),
                             clock=harness.clock)
    client = built.web().test_client()
    yield built, client
    built.kit.close()


def _ask(harness, client, *, advance: timedelta = timedelta()):
    """Ask for a dialogue as the public form does; notify's consumer then takes the
    dialogue_request.code_issued that scheduling published (``advance``: that much later)."""
    harness.consumer  # noqa: B018  (joined before the event is published)
    handled = harness.consumer.stats.handled
    resp = client.post(REQUESTS, json={
        "locality": {"province_code": "37", "ward_code": "14464"},
        "topic": "Ô nhiễm lò gạch ven sông Hoàng Long",
        "requester": {"full_name": "Phạm Văn Toàn", "phone": "0912 000 077"}})
    assert resp.status_code == 201, resp.json
    harness.clock.advance(seconds=advance.total_seconds())
    wait_for(lambda: harness.consumer.poll_once(timeout_ms=200) >= 0
             and harness.consumer.stats.handled > handled, timeout=40, interval=0,
             message="code_issued handled")
    return resp.json["request_id"]


def _event(settings, request_id):
    for raw in events_on(settings, TOPIC):
        if raw["type"] == "dialogue_request.code_issued" and \
                raw["data"]["request_id"] == request_id:
            return Event.from_json(json.dumps(raw))
    raise AssertionError("no code_issued event")


def test_code_by_sms_at_night_then_confirmed(harness, scheduling_web):
    built, client = scheduling_web
    # 23:40 in Vietnam: quiet hours hold reminders, not a code the citizen waits for.
    harness.clock.now = datetime(2027, 3, 9, 23, 40, tzinfo=VN_TZ).astimezone(UTC)
    request_id = _ask(harness, client)
    assert harness.send() == 1
    [sms] = harness.sms(PHONE)
    body = sms["body"]
    assert "Ong/Ba" in body and "yeu cau doi thoai" in body and "xa Gia Vien" in body
    # the expiry, in Vietnam time: 15 minutes after 23:40
    assert "23:55 ngay 09/03/2027" in body
    code = re.search(r": (\d{6})\.", body)[1]

    # the code is nowhere at rest in clear, nor in notify's events
    [doc] = harness.notifications(template="dialogue_request_code")
    assert doc["state"] == "sent" and code not in doc["text"] and "******" in doc["text"]
    assert code not in repr(events_on(harness.app.settings, "notify.deliveries"))
    detail = harness.app.store.get_notification(doc["_id"])
    assert code not in repr({k: v for k, v in detail.items() if k != "text_enc"})

    wrong = client.post(f"{REQUESTS}/{request_id}/confirm",
                        json={"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422
    ok = client.post(f"{REQUESTS}/{request_id}/confirm", json={"code": code})
    assert ok.status_code == 200 and ok.json["counted"], ok.json

    harness.deliver(_event(built.settings, request_id))  # a replay sends nothing more
    assert harness.send() == 0 and len(harness.sms(PHONE)) == 1


def test_an_expired_code_is_not_sent(harness, scheduling_web):
    _built, client = scheduling_web
    _ask(harness, client, advance=timedelta(minutes=16))  # notify was 16 minutes late
    assert harness.send() == 0
    assert harness.notifications(template="dialogue_request_code") == []
    assert harness.sms(PHONE) == []


def test_a_code_is_not_retried_after_it_expires(harness, scheduling_web):
    _built, client = scheduling_web
    harness.sinks.fault(PHONE, [503])  # the provider is down for now
    _ask(harness, client)
    harness.send()
    [doc] = harness.notifications(template="dialogue_request_code")
    assert doc["state"] == "pending" and doc["attempt_count"] == 1
    harness.clock.advance(minutes=15)  # the retry is due, the code has expired
    harness.send()
    [doc] = harness.notifications(template="dialogue_request_code")
    assert doc["state"] == "cancelled" and doc["reason"] == "expired"
    assert harness.sms(PHONE) == []

"""Inbound SMS: TT <code>, HUY <code>, anything else; generic JSON and Twilio form."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.notify.conftest import CODE, PHONE, contact, petition_event, received

OTHER = "+84987654321"


def text(web, sender: str, body: str, message_id: str | None = None, **kw):
    return web.post("/api/v1/sms/inbound", json={"from": sender, "text": body,
                                                  "id": message_id}, **kw)


def test_status_reply(harness, web):
    event = received(contact=contact(email=None))
    harness.deliver(event, petition_event("petition.accepted", event.subject,
                                          accepted_at=datetime(2027, 3, 9, 3, tzinfo=UTC)))
    harness.send()
    harness.sinks.clear()

    resp = text(web, "0987 654 321", f"tt {CODE.lower()}", "in-1")
    assert resp.status_code == 200 and resp.json["reply"] == "sms_status_reply"
    text(web, "0987 654 321", f"tt {CODE.lower()}", "in-1")  # the gateway retries
    assert harness.send() == 1
    [reply] = harness.sms(OTHER)
    assert CODE in reply["body"] and "Da thu ly" in reply["body"]

    text(web, OTHER, "TT NB00-XXXXXX", "in-2")
    harness.send()
    assert "Khong tim thay" in harness.sms(OTHER)[1]["body"]


def test_stop_only_from_the_petitioners_phone(harness, web):
    event = received(contact=contact(email=None))
    harness.deliver(event)
    harness.send()
    harness.sinks.clear()

    text(web, OTHER, f"HUY {CODE}", "in-3")
    harness.send()
    [refused] = harness.sms(OTHER)
    assert "Khong tim thay" in refused["body"]
    assert not harness.store.stopped(event.subject)

    text(web, PHONE, f"Huỷ {CODE}", "in-4")
    harness.send()
    [confirm] = harness.sms(PHONE)
    assert CODE in confirm["body"] and "khong nhan tin nhan" in confirm["body"]
    assert harness.store.stopped(event.subject)

    # Later news about that petition is not sent any more.
    harness.deliver(petition_event("petition.answered", event.subject, answer="Đã xử lý xong.",
                                   commitment_id=None, answered_at=datetime(2027, 3, 9, 4,
                                                                             tzinfo=UTC),
                                   contact=contact(email=None)))
    harness.send()
    assert len(harness.sms(PHONE)) == 1


def test_anything_else_gets_help_and_twilio_form_works(harness, web):
    resp = text(web, PHONE, "xin chao", "in-5")
    assert resp.json["reply"] == "sms_help_reply"
    resp = web.post("/api/v1/sms/inbound", data={
        "From": OTHER, "Body": "alo", "MessageSid": "SM" + "0" * 32, "To": "+18005550100",
        "AccountSid": "AC123", "NumMedia": "0"})
    assert resp.status_code == 200 and resp.mimetype == "text/xml"
    assert harness.send() == 2
    for to in (PHONE, OTHER):
        [help_] = harness.sms(to)
        assert "TT <ma>" in help_["body"] and "HUY <ma>" in help_["body"]
        assert "8077" in help_["body"] and "0229 3871 234" in help_["body"]


def test_quiet_hours_do_not_hold_replies(harness, web):
    from services.common.clock import VN_TZ

    harness.clock.now = datetime(2027, 3, 9, 23, 30, tzinfo=VN_TZ).astimezone(UTC)
    text(web, PHONE, "?", "in-6")
    assert harness.send() == 1
    assert len(harness.sms(PHONE)) == 1


def test_bad_input_and_secret(notify_settings, clock, sinks):
    from services.notify import bootstrap

    app = bootstrap.build(notify_settings(sms_inbound_secret="s3cret"), clock)
    client = app.web().test_client()
    try:
        assert text(client, PHONE, "TT X").status_code == 401
        ok = text(client, PHONE, "?", headers={"X-Webhook-Secret": "s3cret"})
        assert ok.status_code == 200
        bad = client.post("/api/v1/sms/inbound", json={"text": "TT"},
                          headers={"X-Webhook-Secret": "s3cret"})
        assert bad.status_code == 422 and "from" in bad.json["errors"]
    finally:
        app.close()


def test_stop_without_a_code_stops_every_petition_of_that_phone(harness, web):
    mine = [received(code=f"NB25-4K7Q2{c}", contact=contact(email=None)) for c in "AB"]
    theirs = received(code="NB25-4K7Q2C", contact=contact(phone=OTHER, email=None))
    harness.deliver(*mine, theirs)
    harness.send()
    harness.sinks.clear()

    text(web, PHONE, "HUY", "in-9")
    harness.send()
    assert all(harness.store.stopped(e.subject) for e in mine)
    assert not harness.store.stopped(theirs.subject)
    for event in (*mine, theirs):  # news of all three; only the other phone hears of it
        harness.deliver(petition_event("petition.answered", event.subject,
                                       code=event.data["tracking_code"], answer="Đã xử lý.",
                                       commitment_id=None,
                                       answered_at=datetime(2027, 3, 9, 4, tzinfo=UTC),
                                       contact=event.data["contact"]))
    harness.send()
    assert len(harness.sms(OTHER)) == 1
    assert all("Đã xử lý" not in m["body"] and "Da xu ly" not in m["body"]
               for m in harness.sms(PHONE))


def _typed_code_petition(harness):
    from services.common.contracts.codes import new_code

    code = new_code("NB")
    event = received(code=code, contact=contact(email=None))
    harness.deliver(event, petition_event("petition.accepted", event.subject, code=code,
                                          accepted_at=datetime(2027, 3, 9, 3, tzinfo=UTC)))
    harness.send()
    harness.sinks.clear()
    return event, code


def _as_typed(code: str) -> list[str]:
    """NB-7K4M-Q2XC as people type it: no dash, lower case, spaces, with or without the
    province prefix."""
    prefix, body = code.split("-", 1)
    bare = body.replace("-", "")
    return [bare, bare.lower(), f"{bare[:4].lower()} {bare[4:].lower()}", f"{prefix}{bare}",
            f"{prefix.lower()} {body.lower()}", f"{prefix} {bare[:4]} {bare[4:]}"]


def test_status_by_sms_with_codes_as_people_type_them(harness, web):
    _event, code = _typed_code_petition(harness)
    for n, typed in enumerate(_as_typed(code)):
        assert text(web, OTHER, f"tt {typed}", f"typed-{n}").json["reply"] == "sms_status_reply"
    harness.send()
    replies = harness.sms(OTHER)
    assert len(replies) == len(_as_typed(code))
    for reply in replies:  # each one found the petition and names it as it was issued
        assert code in reply["body"] and "Da thu ly" in reply["body"], reply["body"]


def test_stop_by_sms_with_a_code_typed_without_dash_or_prefix(harness, web):
    for n, way in enumerate((0, 2, 4)):  # one petition per way of typing
        event, code = _typed_code_petition(harness)
        typed = _as_typed(code)[way]
        text(web, PHONE, f"HUY {typed}", f"stop-{n}")
        harness.send()
        assert harness.store.stopped(event.subject), typed
        [confirm] = harness.sms(PHONE)
        assert code in confirm["body"] and "khong nhan tin nhan" in confirm["body"]


def test_status_names_an_upcoming_dialogue(harness, web):
    from datetime import timedelta

    from tests.integration.notify.conftest import START, announced

    event, code = _typed_code_petition(harness)
    starts = START + timedelta(days=10)
    harness.deliver(announced("dl-tt", [event.subject], starts))
    harness.send()
    harness.sinks.clear()
    text(web, OTHER, f"TT {code}", "tt-dialogue")
    harness.send()
    [reply] = harness.sms(OTHER)
    assert "Doi thoai luc 10:00 ngay 19/03/2027" in reply["body"], reply["body"]

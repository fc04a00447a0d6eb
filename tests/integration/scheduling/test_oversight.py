"""Programmes, dialogue requests (10% rule), compliance and reports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.contracts.scheduling import TOPIC
from services.common.crypto import DEV_CONTACT_PRIVATE, unseal
from tests.helpers import events_on
from tests.integration.scheduling.conftest import dialogue_body

R = "/api/v1/dialogue-requests"


def _request(api, n: int, ward: str = "14482", **kw):
    return api.post(R, {"locality": {"province_code": "37", "ward_code": ward},
                        "topic": "Ô nhiễm lò gạch",
                        "requester": {"full_name": f"Người dân {n}",
                                      "phone": f"09120000{n:02d}"}}, roles=(), **kw)


def code_of(api, request_id: str) -> str:
    """The one-time code sent for a request, read as notify would: from the sealed token."""
    for event in reversed(events_on(api.settings, TOPIC)):
        if event["type"] == "dialogue_request.code_issued" and \
                event["data"]["request_id"] == request_id:
            return unseal(DEV_CONTACT_PRIVATE, event["data"]["contact"]["contact_token"])["code"]
    raise AssertionError(f"no code for {request_id}")


def _confirmed(api, n: int, ward: str = "14482"):
    asked = _request(api, n, ward)
    assert asked.status_code == 201, asked.json
    rid = asked.json["request_id"]
    return api.post(f"{R}/{rid}/confirm", {"code": code_of(api, rid)}, roles=())


@pytest.fixture
def small(build, tmp_path):
    """A commune with 15 voters: two distinct requesters make 10%."""
    path = tmp_path / "voters.yaml"
    path.write_text('default: 8000\ncommunes:\n  "14482": 15\n', encoding="utf-8")
    return build(voters_file=str(path))


def test_programme_created_listed_and_published_once(api):
    body = {"locality": {"province_code": "37", "ward_code": "14464"}, "year": 2026,
            "title": "Chương trình đối thoại năm 2026",
            "items": [{"period": "2026-Q2", "kind": "periodic", "topic": "Đất đai"},
                      {"period": "2026-09", "kind": "thematic", "topic": "Môi trường"}]}
    r = api.post("/api/v1/programmes", body)
    assert r.status_code == 201, r.json
    pid = r.json["id"]
    assert r.json["state"] == "draft"
    bad = api.post("/api/v1/programmes", {**body, "items": [{"period": "2027-Q5",
                                                              "kind": "x", "topic": ""}]})
    assert bad.status_code == 422
    assert {"items.0.period", "items.0.kind", "items.0.topic"} <= set(bad.json["errors"])
    wrong_year = api.post("/api/v1/programmes", {**body, "items": [
        {"period": "2027-Q1", "kind": "periodic", "topic": "Đất"}]})
    assert wrong_year.status_code == 422 and "items.0.period" in wrong_year.json["errors"]
    assert api.post("/api/v1/programmes", body, province="01").status_code == 403
    assert api.post(f"/api/v1/programmes/{pid}/publish").json["state"] == "published"
    assert api.post(f"/api/v1/programmes/{pid}/publish").status_code == 409
    listed = api.get("/api/v1/programmes?province_code=37&year=2026", roles=("auditor",))
    assert listed.json["total"] == 1 and listed.json["items"][0]["id"] == pid
    assert api.get("/api/v1/programmes?year=2025").json["total"] == 0
    events = events_on(api.settings, TOPIC)
    assert [e["type"] for e in events] == ["programme.published"]
    assert events[0]["data"]["items"][1] == {"period": "2026-09", "kind": "thematic",
                                             "topic": "Môi trường"}


def test_ten_percent_of_voters_make_a_dialogue_required_once(small):
    first = _request(small, 1)
    assert first.status_code == 201, first.json
    # not counted until the code sent to the phone comes back
    assert not first.json["counted"] and first.json["confirmation_required"]
    assert first.json["requester_count"] == 0 and first.json["threshold"] == 2
    rid = first.json["request_id"]
    code = code_of(small, rid)
    wrong = small.post(f"{R}/{rid}/confirm", {"code": "000000" if code != "000000"
                                              else "111111"}, roles=())
    assert wrong.status_code == 422 and "code" in wrong.json["errors"]
    confirmed = small.post(f"{R}/{rid}/confirm", {"code": code}, roles=())
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["counted"] and confirmed.json["requester_count"] == 1
    assert not confirmed.json["dialogue_required"]
    again = _request(small, 1)  # the same person again (phone written another way below)
    assert not again.json["counted"] and again.json["requester_count"] == 1
    assert not again.json["confirmation_required"]
    same = small.post(R, {"locality": {"province_code": "37", "ward_code": "14482"},
                          "topic": "Khác", "requester": {"full_name": "X",
                                                         "phone": "+84 912 000 001"}}, roles=())
    assert not same.json["counted"]
    assert _confirmed(small, 2).json["dialogue_required"] is True
    assert _confirmed(small, 3).json["requester_count"] == 3
    assert _request(small, 6).json["requester_count"] == 3  # unconfirmed: not counted
    # the Front files on behalf of a citizen, within its scope
    front = _request(small, 4, headers=small.token("front_officer", ward="14482"))
    assert front.status_code == 201 and front.json["requester_count"] == 4
    assert front.json["counted"] and not front.json["confirmation_required"]
    assert _request(small, 5, headers=small.token("front_officer", ward="14464")).status_code \
        == 403
    events = events_on(small.settings, TOPIC)
    assert "0912" not in str(events)  # codes and phones travel sealed
    required = [e for e in events if e["type"] == "dialogue.required"]
    assert len(required) == 1
    assert required[0]["subject"] == "14482"
    assert required[0]["data"]["requester_count"] == 2
    assert required[0]["data"]["voter_count"] == 15
    assert required[0]["data"]["topics"] == ["Ô nhiễm lò gạch"]
    # personal data is encrypted at rest and absent from the event
    stored = small.built.store.requests.find_one({"ward_code": "14482"})
    assert "0912" not in str(stored) and "Người dân" not in str(stored)
    assert "0912" not in str(events) and "Người dân" not in str(events)
    opened = small.built.kit.keys.decrypt_json(stored["requester"],
                                               context=f"dialogue_request/{stored['_id']}")
    assert opened["full_name"].startswith("Người dân")


def test_request_input_is_checked(api):
    r = api.post(R, {"locality": {"province_code": "37"}, "topic": "",
                     "requester": {"full_name": "A", "id_number": "12"}}, roles=())
    assert r.status_code == 422
    assert {"topic", "requester.id_number"} <= set(r.json["errors"])
    r = api.post(R, {"locality": {"province_code": "37", "ward_code": "14464"},
                     "topic": "Đường", "requester": {"full_name": "A"}}, roles=())
    assert r.status_code == 422 and "requester.phone" in r.json["errors"]
    r = api.post(R, {"locality": {"province_code": "37", "ward_code": "14464"},
                     "topic": "Đường", "requester": {"full_name": "A", "phone": "12345678"}},
                 roles=())
    assert r.status_code == 422 and "requester.phone" in r.json["errors"]


def _held(api, clock, *, ward="14464", kind="periodic", days=10, host="Nguyễn Văn An"):
    start = clock() + timedelta(days=days)
    d = api.post("/api/v1/dialogues", dialogue_body(
        kind=kind, locality={"province_code": "37", "ward_code": ward},
        host={"name": host, "title": "Chủ tịch UBND xã"}, venue=f"Hội trường {ward}",
        starts_at=start.isoformat(), ends_at=(start + timedelta(hours=2)).isoformat())).json
    assert api.post(f"/api/v1/dialogues/{d['id']}/announce").status_code == 200
    return d


def test_compliance_and_reports(small, clock):
    api = small
    gia_vien = _held(api, clock)
    gia_hung = _held(api, clock, ward="14482", kind="thematic", host="Lê Thị Hoa")
    assert _confirmed(api, 1).status_code == 200 and _confirmed(api, 2).json["dialogue_required"]
    clock.advance(days=10)
    for d in (gia_vien, gia_hung):
        assert api.post(f"/api/v1/dialogues/{d['id']}/hold",
                        {"attendance": {"total": 30}}).status_code == 200
    clock.advance(days=12)
    conclusion = {"text": "Di dời lò gạch", "responsible_agency_id": "so-tnmt-37",
                  "working_days": 30}
    assert api.post(f"/api/v1/dialogues/{gia_vien['id']}/conclude", {
        "notice_number": "15-TB/ĐU", "issued_at": clock().isoformat(), "signed_by": "A",
        "conclusions": [conclusion]}).json["late"] is True
    # the requests came before the dialogue of 14482 was held: nothing outstanding there
    r = api.get("/api/v1/compliance?province_code=37&year=2026", roles=("auditor",))
    assert r.status_code == 200, r.json
    rows = {row["ward_code"]: row for row in r.json["items"]}
    assert r.json["total"] == 129 and len(rows) == 129
    assert rows["14464"] == {"ward_code": "14464", "name": "Xã Gia Viễn", "kind": "xã",
                             "dialogues_held": 1, "annual_minimum_met": True,
                             "required_outstanding": 0, "late_notices": 1,
                             "late_notices_url": "/api/v1/notices?province_code=37"
                                                 "&ward_code=14464&year=2026&late=true",
                             "results_overdue": 0, "party_dialogues_held": 0,
                             "voter_count": None, "voter_count_source": None,
                             "voter_count_as_of": None, "voter_count_missing": True}
    assert rows["14482"]["voter_count"] == 15 and not rows["14482"]["voter_count_missing"]
    assert r.json["voter_counts_missing"] == 128
    assert rows["14482"]["dialogues_held"] == 1 and rows["14482"]["required_outstanding"] == 0
    # held 12 days ago and still without a conclusion notice: late already
    assert rows["14482"]["results_overdue"] == 1
    assert rows["14428"]["annual_minimum_met"] is False
    assert r.json["units_below_minimum"] == 127
    mine = api.get("/api/v1/compliance?province_code=37&year=2026", ward="14482")
    assert [row["ward_code"] for row in mine.json["items"]] == ["14482"]
    assert api.get("/api/v1/compliance?province_code=01&year=2026").status_code == 403
    bad = api.get("/api/v1/compliance?province_code=3&year=x")
    assert bad.status_code == 422
    assert {"query.province_code", "query.year"} <= set(bad.json["errors"])

    r = api.get("/api/v1/reports/dialogues?province_code=37&from=2026-01-01&to=2026-12-31")
    assert r.status_code == 200, r.json
    assert r.json["total"] == 2
    assert r.json["items"] == [
        {"unit_code": "14464", "unit_name": "Xã Gia Viễn", "level": "commune",
         "kind": "periodic", "count": 1},
        {"unit_code": "14482", "unit_name": "Xã Gia Hưng", "level": "commune",
         "kind": "thematic", "count": 1}]
    assert api.get("/api/v1/reports/dialogues?province_code=37&to=2026-03-01").json[
        "total"] == 0
    assert api.get("/api/v1/reports/dialogues?province_code=37&from=2026-05-01&to=2026-04-01"
                   ).status_code == 422
    assert api.get("/api/v1/reports/dialogues?province_code=37", roles=()).status_code == 401


def test_required_dialogue_outstanding_until_held(small, clock):
    assert _confirmed(small, 1).status_code == 200
    assert _confirmed(small, 2).json["dialogue_required"] is True
    r = small.get("/api/v1/compliance?province_code=37&year=2026")
    assert {row["ward_code"]: row for row in r.json["items"]}["14482"][
        "required_outstanding"] == 1


def test_dialogue_required_once_under_concurrent_requests(small):
    from concurrent.futures import ThreadPoolExecutor

    asked = {n: _request(small, n).json["request_id"] for n in range(1, 9)}
    codes = {n: code_of(small, rid) for n, rid in asked.items()}

    def confirm(n: int) -> int:
        client = small.app.test_client()
        return client.post(f"{R}/{asked[n]}/confirm", json={"code": codes[n]},
                           headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(confirm, range(1, 9))) == {200}
    events = events_on(small.settings, TOPIC)
    assert [e["type"] for e in events if e["type"] != "dialogue_request.code_issued"] == [
        "dialogue.required"]
    assert small.built.store.count_requesters("14482", 2026) == 8

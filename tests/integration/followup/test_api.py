"""The HTTP API against the real FerretDB and Kafka: every endpoint, roles and scope."""

from __future__ import annotations

from datetime import date

import pytest

from services.followup import domain
from tests.helpers import events_on
from tests.integration.followup.conftest import concluded, conclusion

AGENCY = "so-xd-37"


@pytest.fixture
def seeded(followup):
    """Two dialogues in Ninh Bình (one commune each), one in Hà Nội."""
    svc = followup.service
    svc.on_dialogue_concluded(concluded("dl-1", [
        conclusion(AGENCY, conclusion_id="kl-1", deadline=date(2027, 3, 31)),
        conclusion("so-gtvt-37", conclusion_id="kl-2", deadline=date(2027, 6, 30))]))
    svc.on_dialogue_concluded(concluded("dl-2", [
        conclusion(AGENCY, conclusion_id="kl-3", deadline=date(2027, 5, 15))], ward="14470"))
    svc.on_dialogue_concluded(concluded("dl-3", [
        conclusion("so-xd-01", conclusion_id="kl-4")], province="01", ward=None))
    return {k: domain.commitment_id(k) for k in ("kl-1", "kl-2", "kl-3", "kl-4")}


def ids(response) -> list[str]:
    return sorted(i["conclusion_id"] for i in response.get_json()["items"])


def test_list_needs_token_and_officer_role(web, token, seeded):
    assert web.get("/api/v1/commitments").status_code == 401
    assert web.get("/api/v1/commitments",
                   headers={"Authorization": "Bearer nope"}).status_code == 401
    assert web.get("/api/v1/commitments", headers=token("citizen")).status_code == 403


def test_list_scope_and_filters(web, token, seeded):
    province = token("secretariat", province_code="37")
    assert ids(web.get("/api/v1/commitments", headers=province)) == ["kl-1", "kl-2", "kl-3"]
    ward = token("host", province_code="37", ward_code="14470")
    assert ids(web.get("/api/v1/commitments", headers=ward)) == ["kl-3"]
    admin = token("admin")
    assert ids(web.get("/api/v1/commitments", headers=admin)) == ["kl-1", "kl-2", "kl-3", "kl-4"]
    q = web.get("/api/v1/commitments?agency_id=so-xd-37&status=open&overdue=false",
                headers=province)
    assert ids(q) == ["kl-1", "kl-3"]
    q = web.get("/api/v1/commitments?dialogue_id=dl-1&due_from=2027-04-01&due_to=2027-12-31",
                headers=province)
    assert ids(q) == ["kl-2"]
    q = web.get("/api/v1/commitments?ward_code=14464", headers=province)
    assert ids(q) == ["kl-1", "kl-2"]
    page = web.get("/api/v1/commitments?page=2&page_size=2", headers=province).get_json()
    assert page["total"] == 3 and page["page"] == 2 and len(page["items"]) == 1
    item = web.get("/api/v1/commitments?dialogue_id=dl-1&agency_id=so-xd-37",
                   headers=province).get_json()["items"][0]
    assert item["deadline"] == "2027-03-31" and item["deadline_vn"] == "31/03/2027"
    assert item["status_vi"] == "Chưa thực hiện"
    assert item["created_at"].endswith("+00:00")


def test_list_rejects_bad_filters(web, token, seeded):
    h = token("secretariat", province_code="37")
    r = web.get("/api/v1/commitments?status=done&page_size=1000&bogus=1", headers=h)
    assert r.status_code == 422
    body = r.get_json()
    assert r.mimetype == "application/problem+json"
    assert {"query.status", "query.page_size"} <= set(body["errors"])
    r = web.get("/api/v1/commitments?due_from=2027-05-01&due_to=2027-01-01", headers=h)
    assert r.status_code == 422


def test_agency_officer_sees_only_own_agency(web, token, seeded):
    h = token("agency_officer", agency_id=AGENCY)
    assert ids(web.get("/api/v1/commitments", headers=h)) == ["kl-1", "kl-3"]
    # another agency's: refused by the kit's scope rule, not answered with nothing
    assert web.get("/api/v1/commitments?agency_id=so-gtvt-37", headers=h).status_code == 403
    assert web.get(f"/api/v1/commitments/{seeded['kl-2']}", headers=h).status_code == 404
    r = web.post(f"/api/v1/commitments/{seeded['kl-2']}/progress", headers=h,
                 json={"note": "x", "percent": 10})
    assert r.status_code == 404
    assert web.get(f"/api/v1/commitments/{seeded['kl-1']}", headers=h).status_code == 200


def test_progress_resolve_assess_cycle(followup, web, token, seeded):
    cid = seeded["kl-1"]
    agency = token("agency_officer", agency_id=AGENCY, sub="can-bo-so-xd")
    url = f"/api/v1/commitments/{cid}"
    r = web.post(f"{url}/progress", headers=agency, json={
        "note": "Đã khảo sát hiện trạng", "percent": 40,
        "evidence": ["https://soxd.ninhbinh.gov.vn/bien-ban-1.pdf"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "in_progress" and r.get_json()["percent"] == 40
    # going down needs a reason
    r = web.post(f"{url}/progress", headers=agency, json={"note": "Điều chỉnh", "percent": 30})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = web.post(f"{url}/progress", headers=agency,
                 json={"note": "Điều chỉnh", "percent": 30, "reason": "Phát sinh hạng mục"})
    assert r.status_code == 200
    r = web.post(f"{url}/resolve", headers=agency,
                 json={"answer": "Một phần đã xong", "outcome": "partially_resolved"})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = web.post(f"{url}/resolve", headers=agency,
                 json={"answer": "Đường đã được nâng cấp", "outcome": "resolved"})
    assert r.status_code == 200 and r.get_json()["status"] == "resolved"
    assert r.get_json()["resolution"]["on_time"] is True
    # resolved: no more progress, no second resolution
    assert web.post(f"{url}/progress", headers=agency,
                    json={"note": "x", "percent": 100}).status_code == 409
    assert web.post(f"{url}/resolve", headers=agency,
                    json={"answer": "x", "outcome": "resolved"}).status_code == 409
    # assess: Front officers only
    body = {"assessment": "unsatisfactory", "note": "Người dân phản ánh mặt đường đã hỏng"}
    assert web.post(f"{url}/assess", headers=agency, json=body).status_code == 403
    front = token("front_officer", province_code="37")
    r = web.post(f"{url}/assess", headers=front, json=body)
    assert r.status_code == 200 and r.get_json()["status"] == "reopened"
    assert web.post(f"{url}/assess", headers=front, json=body).status_code == 409
    detail = web.get(url, headers=token("auditor", province_code="37")).get_json()
    assert [p["percent"] for p in detail["progress"]] == [40, 30]
    assert detail["progress"][0]["evidence"] == ["https://soxd.ninhbinh.gov.vn/bien-ban-1.pdf"]
    assert [h["action"] for h in detail["history"]] == ["resolved", "assessed"]
    events = events_on(followup.settings, "followup.commitments", min_count=9)
    mine = [e["type"] for e in events if e["subject"] == cid]
    assert mine == ["commitment.assigned", "commitment.progress_reported",
                    "commitment.progress_reported", "commitment.resolved",
                    "commitment.assessed", "commitment.reopened"]
    trail = followup.kit.audit.trail("commitment", cid)
    assert [t["action"] for t in trail] == ["commitment.progress", "commitment.progress",
                                            "commitment.resolve", "commitment.assess"]
    assert trail[0]["actor"] == "can-bo-so-xd"


def test_reassign_and_extend_roles(followup, web, token, seeded):
    cid = seeded["kl-1"]
    url = f"/api/v1/commitments/{cid}"
    body = {"agency_id": "so-gtvt-37", "reason": "Thuộc thẩm quyền Sở Giao thông"}
    assert web.post(f"{url}/reassign", headers=token("host", province_code="37"),
                    json=body).status_code == 403
    assert web.post(f"{url}/reassign", headers=token("auditor", province_code="37"),
                    json=body).status_code == 403
    secretariat = token("secretariat", province_code="37")
    assert web.post(f"{url}/reassign", headers=secretariat,
                    json={"agency_id": "SO GTVT"}).status_code == 422
    r = web.post(f"{url}/reassign", headers=secretariat, json=body)
    assert r.status_code == 200 and r.get_json()["agency_id"] == "so-gtvt-37"
    # the old agency no longer sees it
    old = token("agency_officer", agency_id=AGENCY)
    assert web.get(url, headers=old).status_code == 404
    # outside the scope of a secretariat of another province
    assert web.post(f"{url}/extend", headers=token("secretariat", province_code="01"),
                    json={"deadline": "2027-06-30", "reason": "x"}).status_code == 404
    host = token("host", province_code="37")
    assert web.post(f"{url}/extend", headers=token("agency_officer", agency_id="so-gtvt-37"),
                    json={"deadline": "2027-06-30", "reason": "x"}).status_code == 403
    r = web.post(f"{url}/extend", headers=host, json={"deadline": "2027-02-01", "reason": "x"})
    assert r.status_code == 422 and "deadline" in r.get_json()["errors"]
    r = web.post(f"{url}/extend", headers=host,
                 json={"deadline": "2027-06-30", "reason": "Mưa lũ kéo dài"})
    assert r.status_code == 200 and r.get_json()["deadline_vn"] == "30/06/2027"
    assert web.post(f"{url}/extend", headers=host, json={"deadline": "2027-07-30"}) \
        .status_code == 422
    events = events_on(followup.settings, "followup.commitments", min_count=6)
    mine = [e for e in events if e["subject"] == cid]
    assert [e["type"] for e in mine][-2:] == ["commitment.reassigned",
                                              "commitment.deadline_extended"]
    assert mine[-1]["data"]["previous_deadline"] == "2027-03-31"


def test_unknown_commitment_and_unknown_fields(web, token, seeded):
    h = token("secretariat", province_code="37")
    assert web.get("/api/v1/commitments/cm-nope", headers=h).status_code == 404
    r = web.post(f"/api/v1/commitments/{seeded['kl-1']}/progress",
                 headers=token("agency_officer", agency_id=AGENCY),
                 json={"note": "x", "percent": 10, "extra": 1})
    assert r.status_code == 422 and "extra" in r.get_json()["errors"]
    r = web.post(f"/api/v1/commitments/{seeded['kl-1']}/progress",
                 headers=token("agency_officer", agency_id=AGENCY),
                 json={"note": "", "percent": 101, "evidence": ["not a url"]})
    assert r.status_code == 422
    assert {"note", "percent", "evidence.0"} <= set(r.get_json()["errors"])


def test_report_counts(followup, web, token, seeded, clock):
    svc = followup.service
    agency = token("agency_officer", agency_id=AGENCY)
    web.post(f"/api/v1/commitments/{seeded['kl-3']}/resolve", headers=agency,
             json={"answer": "Đã xong", "outcome": "resolved"})
    clock.advance(days=40)  # 10/04/2027: kl-1 (31/03) is overdue
    svc.sweep()
    r = web.get("/api/v1/reports/commitments", headers=token("secretariat", province_code="37"))
    assert r.status_code == 200
    report = r.get_json()
    assert report["totals"] == {"resolved_on_time": 1, "resolved_late": 0, "open": 1,
                                "overdue": 1, "total": 3}
    by_agency = {row["agency_id"]: row for row in report["by_agency"]}
    assert by_agency[AGENCY]["overdue"] == 1 and by_agency[AGENCY]["resolved_on_time"] == 1
    assert by_agency["so-gtvt-37"]["open"] == 1
    by_dialogue = {row["dialogue_id"]: row for row in report["by_dialogue"]}
    assert by_dialogue["dl-1"]["total"] == 2 and by_dialogue["dl-2"]["resolved_on_time"] == 1
    # late resolution
    web.post(f"/api/v1/commitments/{seeded['kl-1']}/resolve", headers=agency,
             json={"answer": "Đã xong", "outcome": "resolved"})
    r = web.get("/api/v1/reports/commitments?agency_id=so-xd-37&from=2027-03-01&to=2027-04-30",
                headers=token("secretariat", province_code="37")).get_json()
    assert r["totals"] == {"resolved_on_time": 0, "resolved_late": 1, "open": 0,
                           "overdue": 0, "total": 1}
    assert web.get("/api/v1/reports/commitments?province_code=01",
                   headers=token("secretariat", province_code="37")).status_code == 403
    assert web.get("/api/v1/reports/commitments?from=2027-13-01",
                   headers=token("secretariat", province_code="37")).status_code == 422
    assert web.get("/api/v1/reports/commitments").status_code == 401


def test_public_accountability(web, token, seeded):
    web.post(f"/api/v1/commitments/{seeded['kl-1']}/progress",
             headers=token("agency_officer", agency_id=AGENCY, sub="nguyen-van-can-bo"),
             json={"note": "Đã khảo sát", "percent": 40})
    r = web.get("/api/v1/public/dialogues/dl-1/accountability")
    assert r.status_code == 200
    body = r.get_json()
    assert body["total"] == 2 and body["notice_number"] == "15-TB/ĐU"
    first = next(c for c in body["commitments"] if c["conclusion_id"] == "kl-1")
    assert first["percent"] == 40 and first["status_vi"] == "Đang thực hiện"
    assert first["deadline_vn"] == "31/03/2027"
    text = r.get_data(as_text=True)
    for private in ("nguyen-van-can-bo", "pet-1", "Trần Văn Bình"):
        assert private not in text
    assert web.get("/api/v1/public/dialogues/dl-none/accountability").status_code == 404


def test_probes_and_openapi(web):
    assert web.get("/healthz").status_code == 200
    assert web.get("/readyz").get_json()["status"] == "ready"
    paths = web.get("/openapi.json").get_json()["paths"]
    assert "/api/v1/commitments/{commitment_id}/assess" in paths

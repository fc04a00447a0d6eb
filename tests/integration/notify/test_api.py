"""Officers' HTTP API: notifications list and detail, the directory."""

from __future__ import annotations

from tests.integration.notify.conftest import EMAIL, PHONE, contact, received


def test_list_filters_and_pages(harness, web, token):
    first, second = received(), received(contact=contact(email=None))
    harness.deliver(first, second)
    harness.send()
    admin = token("admin")

    page = web.get("/api/v1/notifications?page_size=2", headers=admin).json
    assert page["total"] == 3 and len(page["items"]) == 2 and page["page"] == 1
    mine = web.get(f"/api/v1/notifications?petition_id={first.subject}", headers=admin).json
    assert mine["total"] == 2
    assert {i["recipient"] for i in mine["items"]} == {"+8491****678", "h********n@example.vn"}
    sms = web.get("/api/v1/notifications?channel=sms&status=sent", headers=admin).json
    assert sms["total"] == 2 and {i["channel"] for i in sms["items"]} == {"sms"}
    assert web.get("/api/v1/notifications?status=failed", headers=admin).json["total"] == 0
    assert PHONE not in str(page) and EMAIL not in str(mine)

    # Scoped officers see their province only; bad filters are 422; no token is 401.
    assert web.get("/api/v1/notifications", headers=token(
        "secretariat", province_code="37")).json["total"] == 3
    assert web.get("/api/v1/notifications", headers=token(
        "secretariat", province_code="01")).json["total"] == 0
    bad = web.get("/api/v1/notifications?status=lost&page_size=1000", headers=admin)
    assert bad.status_code == 422 and {"query.status", "query.page_size"} <= set(
        bad.json["errors"])
    assert web.get("/api/v1/notifications").status_code == 401

    one = mine["items"][0]
    detail = web.get(f"/api/v1/notifications/{one['id']}", headers=admin).json
    assert detail["attempts"][0]["outcome"] == "sent"
    assert web.get("/api/v1/notifications/nope", headers=admin).status_code == 404


def test_directory_is_admin_managed_and_encrypted(harness, web, token):
    admin = token("admin")
    resp = web.put("/api/v1/directory/agencies/so-xd-37", headers=admin, json={
        "name": "Sở Xây dựng tỉnh Ninh Bình", "email": "vanthu@sxd.ninhbinh.gov.vn",
        "phone": "0229 3871 234"})
    assert resp.status_code == 200
    assert resp.json["phone"] == "+842293871234" and resp.json["masked_phone"].startswith("+8422")
    raw = harness.store.directory.find_one({"_id": "agency:so-xd-37"})
    assert "vanthu@" not in str(raw) and "3871234" not in str(raw)

    got = web.get("/api/v1/directory/agencies/so-xd-37", headers=token("auditor")).json
    assert got["email"] == "vanthu@sxd.ninhbinh.gov.vn"
    assert web.put("/api/v1/directory/agencies/so-xd-37", headers=token("auditor"),
                   json={"name": "x", "email": "a@b.vn"}).status_code == 403
    bad = web.put("/api/v1/directory/agencies/so-xd-37", headers=admin,
                  json={"name": "x", "extra": 1})
    assert bad.status_code == 422 and "extra" in bad.json["errors"]
    unreachable = web.put("/api/v1/directory/agencies/so-xd-37", headers=admin,
                          json={"name": "x"})
    assert unreachable.status_code == 422 and "email" in unreachable.json["errors"]
    assert web.put("/api/v1/directory/agencies/Bad_Id", headers=admin,
                   json={"name": "x", "email": "a@b.vn"}).status_code == 422

    resp = web.put("/api/v1/directory/localities", headers=admin, json={
        "province_code": "37", "ward_code": "14464", "role": "front",
        "name": "Ủy ban MTTQ xã Gia Viễn", "email": "mttq@giavien.ninhbinh.gov.vn"})
    assert resp.status_code == 200 and resp.json["id"] == "locality:37:14464:front"
    assert web.put("/api/v1/directory/localities", headers=admin, json={
        "province_code": "01", "ward_code": "14464", "role": "front", "name": "x",
        "email": "a@b.vn"}).status_code == 422

    listed = web.get("/api/v1/directory/entries?kind=locality", headers=admin).json
    assert listed["total"] == 1 and listed["items"][0]["role"] == "front"
    assert web.delete("/api/v1/directory/entries/locality:37:14464:front",
                      headers=admin).status_code == 204
    assert web.delete("/api/v1/directory/agencies/so-xd-37", headers=admin).status_code == 204
    assert web.get("/api/v1/directory/agencies/so-xd-37", headers=admin).status_code == 404
    assert [a["action"] for a in harness.app.kit.audit.trail("directory", "agency:so-xd-37")] == [
        "directory.put", "directory.delete"]


def test_probes_and_openapi(web):
    assert web.get("/healthz").status_code == 200
    assert web.get("/readyz").status_code == 200
    spec = web.get("/openapi.json").json
    assert "/api/v1/sms/inbound" in spec["paths"]
    assert "/api/v1/notifications/{notification_id}/retry" in spec["paths"]

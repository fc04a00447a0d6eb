"""The intake HTTP API against the real FerretDB and Kafka."""

from __future__ import annotations

from datetime import timedelta

from services.common.crypto import DEV_CONTACT_PRIVATE, unseal
from tests.helpers import events_on, running, wait_for
from tests.integration.intake.conftest import group_now, petition

BASE = "/api/v1/petitions"


def submit(client, **overrides):
    """POST a petition, then group it as the consumer would; the answer with the
    petition's ``issue_id`` added (the POST answer has none: grouping comes after)."""
    response = client.post(BASE, json=petition(**overrides))
    assert response.status_code == 201, response.json
    assert "issue_id" not in response.json
    intake = client.application.extensions["intake"]
    return {**response.json, "issue_id": group_now(intake, response.json["id"])}


def types(settings, n):
    return [e["type"] for e in events_on(settings, "intake.petitions", min_count=n)]


def test_submit_and_citizen_lookup(client, built):
    response = client.post(BASE, json=petition())
    assert response.status_code == 201
    created = response.json
    assert created["status"] == "received"
    assert created["category"] == "infrastructure"
    assert "issue_id" not in created  # grouping is the consumer's, after the answer
    stored = built.kit.db.petitions.find_one({"_id": created["id"]})
    assert stored["issue_id"] is None
    with running(built.consumer()):  # intake's own consumer groups it
        created["issue_id"] = wait_for(
            lambda: built.kit.db.petitions.find_one({"_id": created["id"]})["issue_id"],
            timeout=60, message="the petition grouped by intake's consumer")
    assert created["due_date"] == "2026-03-23"  # 15 working days after Mon 2 Mar 2026
    code = created["tracking_code"]
    view = client.get(f"{BASE}/{code}?phone_last4=5678")
    assert view.status_code == 200
    assert view.json["id"] == created["id"]
    assert view.json["status"] == "received" and view.json["status_vi"] == "Đã tiếp nhận"
    assert view.json["history"][0]["status"] == "received"
    assert view.json["locality"] == {"province_code": "37", "ward_code": "14464"}
    assert "petitioner" not in view.json
    # Wrong or missing second factor looks exactly like an unknown code.
    wrong = client.get(f"{BASE}/{code}?phone_last4=1111")
    missing = client.get(f"{BASE}/{code}")
    from services.intake.domain import check_char
    body = "ABCDEFG"
    unknown = client.get(f"{BASE}/{body[:4]}-{body[4:]}{check_char(body)}?phone_last4=5678")
    for response in (wrong, missing, unknown):
        assert response.status_code == 404
        assert response.json["detail_vi"] == wrong.json["detail_vi"]
        assert response.json["detail"] == wrong.json["detail"]
    typo = code[:-1] + ("Z" if code[-1] != "Z" else "Y")
    bad = client.get(f"{BASE}/{typo}?phone_last4=5678")
    assert bad.status_code == 422 and "tracking_code" in bad.json["errors"]
    # events: received then grouped, contact sealed to notify, no plaintext phone
    envelopes = events_on(built.settings, "intake.petitions", min_count=2)
    received = next(e for e in envelopes if e["type"] == "petition.received")
    assert received["data"]["tracking_code"] == code
    assert "912345678" not in str(envelopes)
    assert received["data"]["contact"]["masked_phone"] == "+8491****678"
    contact = unseal(DEV_CONTACT_PRIVATE, received["data"]["contact"]["contact_token"])
    assert contact["phone"] == "+84912345678" and contact["tracking_code"] == code
    grouped = next(e for e in envelopes if e["type"] == "petition.grouped")
    assert grouped["data"]["issue_id"] == created["issue_id"]
    # every petition event says the status it leaves the petition in
    assert received["data"]["status"] == grouped["data"]["status"] == "received"
    # the portal's tracking page follows the petition and its issue from this view
    again = client.get(f"{BASE}/{code}?phone_last4=5678").json
    assert again["id"] == created["id"] and again["issue_id"] == created["issue_id"]
    # stored encrypted
    doc = built.kit.db.petitions.find_one({"_id": created["id"]})
    assert "Hùng" not in str(doc) and "912345678" not in str(doc)


def test_email_as_second_factor(client):
    created = submit(client, petitioner={"email": "Lan@Example.vn",
                                         "consent_notifications": True})
    code = created["tracking_code"]
    assert client.get(f"{BASE}/{code}?email=lan@example.vn").status_code == 200
    assert client.get(f"{BASE}/{code}?email=other@example.vn").status_code == 404


def test_bad_input_names_fields_in_english_and_vietnamese(client):
    response = client.post(BASE, json={"kind": "gossip", "title": "x", "bogus": 1,
                                       "locality": {"province_code": "3"},
                                       "petitioner": {"email": "not-an-email"}})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = response.json["errors"]
    for field in ("kind", "title", "content", "bogus", "locality.province_code",
                  "petitioner.email"):
        assert field in errors, errors
    assert "Tiêu đề" in response.json["detail_vi"]
    assert response.json["errors_vi"]["content"].startswith("Nội dung")


def test_domain_validation_422(client):
    cases = [
        ({"locality": {"province_code": "37", "ward_code": "00001"}}, "locality.ward_code"),
        ({"petitioner": {"phone": "0123", "consent_notifications": True}},
         "petitioner.phone"),
        ({"petitioner": {"full_name": "Lan", "consent_notifications": True}},
         "petitioner.phone"),
        ({"category": "astrology"}, "category"),
        ({"attachments": [{"name": "x.exe", "content_type": "application/x-msdownload",
                           "size": 5, "url": "https://files.example.vn/x.exe"}]},
         "attachments.0.content_type"),
    ]
    for overrides, field in cases:
        response = client.post(BASE, json=petition(**overrides))
        assert response.status_code == 422, (overrides, response.json)
        assert field in response.json["errors"], response.json
        assert response.json["detail_vi"]


def test_officer_assisted_submission(client, built, token):
    response = client.post(BASE, json=petition(channel="in_person"),
                           headers=token("front_officer"))
    assert response.status_code == 201
    doc = built.kit.db.petitions.find_one({"_id": response.json["id"]})
    assert doc["channel"] == "in_person"
    assert doc["submitted_by"]["sub"] == "officer-1"
    assert client.post(BASE, json=petition(), headers=token("agency_officer")).status_code == 403
    assert client.post(BASE, json=petition(),
                       headers={"Authorization": "Bearer nope"}).status_code == 401
    # officer-only channels without a token
    assert client.post(BASE, json=petition(channel="in_person")).status_code == 422


def test_public_rate_limit(intake_settings, clock):
    from services.intake import bootstrap

    app = bootstrap.build(intake_settings(public_rate_limit=2), clock=clock)
    client = app.web().test_client()
    codes = [client.post(BASE, json=petition()).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    clock.advance(minutes=1)
    assert client.post(BASE, json=petition()).status_code == 201
    app.kit.close()


def test_officer_list_search_and_scope(client, token):
    submit(client)
    submit(client, title="Trại lợn gây ô nhiễm nặng", kind="complaint",
           content="Trại lợn của hộ ông Tư xả nước thải ra mương, mùi hôi thối.")
    submit(client, locality={"province_code": "37", "ward_code": "14428"})
    assert client.get(BASE).status_code == 401
    assert client.get(BASE, headers=token("citizen")).status_code == 403
    page = client.get(f"{BASE}?q=TRAI LON", headers=token("secretariat")).json
    assert page["total"] == 1 and page["items"][0]["title"].startswith("Trại lợn")
    page = client.get(f"{BASE}?q=ô nhiễm&kind=complaint", headers=token("secretariat")).json
    assert page["total"] == 1
    page = client.get(f"{BASE}?page_size=2", headers=token("secretariat")).json
    assert page["total"] == 3 and len(page["items"]) == 2
    ward = client.get(BASE, headers=token("secretariat", ward="14428")).json
    assert ward["total"] == 1
    other = client.get(BASE, headers=token("secretariat", province="01")).json
    assert other["total"] == 0
    asked = client.get(f"{BASE}?province_code=37", headers=token("secretariat", province="01"))
    assert asked.status_code == 403  # the kit's scope rule: a filter outside is refused
    assert client.get(f"{BASE}?status=bogus", headers=token("secretariat")).status_code == 422


def test_full_view_decrypts_and_audits(client, built, token):
    created = submit(client)
    full = client.get(f"{BASE}/{created['id']}", headers=token("secretariat"))
    assert full.status_code == 200
    assert full.json["petitioner"]["full_name"] == "Phạm Văn Hùng"
    assert full.json["petitioner"]["phone"] == "+84912345678"
    trail = built.kit.audit.trail("petition", created["id"])
    assert trail[-1]["action"] == "petition.read_personal_data"
    outside = client.get(f"{BASE}/{created['id']}", headers=token("secretariat", province="01"))
    assert outside.status_code == 403


def test_transitions_and_conflicts(client, built, token, clock):
    officer = token("secretariat")
    created = submit(client, kind="complaint")
    ref = created["id"]
    assert client.post(f"{BASE}/{ref}/close", json={}, headers=officer).status_code == 409
    assert client.post(f"{BASE}/{ref}/accept", json={}, headers=token("auditor")).status_code \
        == 403
    clock.advance(days=2)
    accepted = client.post(f"{BASE}/{ref}/accept", json={"note": "Thụ lý"}, headers=officer)
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert accepted.json["due_date"] == "2026-04-03"  # 30 days from 4 Mar
    again = client.post(f"{BASE}/{ref}/accept", json={}, headers=officer)
    assert again.status_code == 409
    assert again.json["detail_vi"].startswith("Không thể")
    doc = built.kit.db.petitions.find_one({"_id": ref})
    assert doc["status"] == "accepted" and len(doc["history"]) == 2
    answered = client.post(f"{BASE}/{ref}/answer", json={"answer": "Đã xử lý xong."},
                           headers=officer)
    assert answered.json["status"] == "answered"
    assert client.post(f"{BASE}/{ref}/close", json={}, headers=officer).json["status"] == \
        "closed"
    other = submit(client)
    rejected = client.post(f"{BASE}/{other['tracking_code']}/reject", json={},
                           headers=officer)
    assert rejected.status_code == 422 and "reason" in rejected.json["errors"]
    rejected = client.post(f"{BASE}/{other['tracking_code']}/reject",
                           json={"reason": "Không thuộc thẩm quyền"}, headers=officer)
    assert rejected.json["status"] == "rejected"
    found = types(built.settings, 8)
    for kind in ("petition.accepted", "petition.answered", "petition.closed",
                 "petition.rejected"):
        assert found.count(kind) == 1, found


def test_citizen_withdraw_and_reopen(client, token, clock, built):
    created = submit(client)
    code = created["tracking_code"]
    wrong = client.post(f"{BASE}/{code}/withdraw", json={"phone_last4": "0000"})
    assert wrong.status_code == 404
    done = client.post(f"{BASE}/{code}/withdraw", json={"phone_last4": "5678",
                                                         "reason": "Đã tự thỏa thuận"})
    assert done.status_code == 200 and done.json["status"] == "withdrawn"
    assert client.post(f"{BASE}/{code}/withdraw", json={"phone_last4": "5678"}).status_code \
        == 409
    second = submit(client)
    code = second["tracking_code"]
    assert client.post(f"{BASE}/{code}/reopen", json={"phone_last4": "5678",
                                                      "reason": "Chưa thỏa đáng"}).status_code \
        == 409
    client.post(f"{BASE}/{code}/answer", json={"answer": "Đã nạo vét."},
                headers=token("secretariat"))
    missing = client.post(f"{BASE}/{code}/reopen", json={"phone_last4": "5678"})
    assert missing.status_code == 422 and "reason" in missing.json["errors"]
    clock.advance(days=31)
    late = client.post(f"{BASE}/{code}/reopen", json={"phone_last4": "5678",
                                                      "reason": "Chưa thỏa đáng"})
    assert late.status_code == 409
    clock.advance(days=-5)
    reopened = client.post(f"{BASE}/{code}/reopen", json={"phone_last4": "5678",
                                                          "reason": "Vẫn còn ngập"})
    assert reopened.status_code == 200 and reopened.json["status"] == "reopened"
    assert reopened.json["history"][-1]["note"] == "Vẫn còn ngập"
    found = types(built.settings, 7)
    assert "petition.withdrawn" in found and "petition.reopened" in found


def test_reclassify_regroups(client, token, built):
    created = submit(client)
    moved = client.post(f"{BASE}/{created['id']}/reclassify",
                        json={"category": "environment"}, headers=token("secretariat"))
    assert moved.status_code == 200 and moved.json["category"] == "environment"
    assert moved.json["issue_id"] != created["issue_id"]
    old = built.kit.db.issues.find_one({"_id": created["issue_id"]})
    assert old["status"] == "closed" and old["petition_count"] == 0
    bad = client.post(f"{BASE}/{created['id']}/reclassify", json={"category": "nope"},
                      headers=token("secretariat"))
    assert bad.status_code == 422


def test_issues_list_merge_split(client, token, built):
    officer = token("secretariat")
    a1 = submit(client)
    a2 = submit(client, petitioner={"phone": "0987 654 321"})
    assert a1["issue_id"] == a2["issue_id"]
    b = submit(client, title="Đèn đường thôn Đông hỏng cả tháng",
               content="Toàn bộ đèn chiếu sáng trên trục đường thôn Đông bị hỏng, "
                       "buổi tối rất tối.")
    assert b["issue_id"] != a1["issue_id"]
    assert client.get("/api/v1/issues").status_code == 401
    listed = client.get("/api/v1/issues?ward_code=14464", headers=officer).json
    assert listed["total"] == 2
    top = listed["items"][0]
    assert top["id"] == a1["issue_id"]
    assert top["petition_count"] == 2 and top["distinct_petitioners"] == 2
    assert top["heat"] >= listed["items"][1]["heat"]
    assert client.get("/api/v1/issues?sort=bogus", headers=officer).status_code == 422
    merged = client.post(f"/api/v1/issues/{a1['issue_id']}/merge",
                         json={"issue_id": b["issue_id"]}, headers=officer)
    assert merged.status_code == 200 and merged.json["petition_count"] == 3
    gone = client.get(f"/api/v1/issues/{b['issue_id']}", headers=officer).json
    assert gone["status"] == "merged" and gone["merged_into"] == a1["issue_id"]
    assert client.post(f"/api/v1/issues/{a1['issue_id']}/merge",
                       json={"issue_id": b["issue_id"]}, headers=officer).status_code == 409
    split = client.post(f"/api/v1/issues/{a1['issue_id']}/split",
                        json={"petition_ids": [b["id"]]}, headers=officer)
    assert split.status_code == 201 and split.json["petition_count"] == 1
    assert built.kit.db.petitions.find_one({"_id": b["id"]})["issue_id"] == split.json["id"]
    assert client.post(f"/api/v1/issues/{a1['issue_id']}/split",
                       json={"petition_ids": [a1["id"], a2["id"]]},
                       headers=officer).status_code == 422
    found = types(built.settings, 8)
    assert "issue.merged" in found
    assert client.get(f"/api/v1/issues/{a1['issue_id']}",
                      headers=token("secretariat", province="01")).status_code == 403


def test_officer_list_pages_newest_first_across_days_and_months(client, token, clock, built):
    # 12 petitions over 80 days: some in the day-by-day part of the walk, most in months
    made = []
    for i in range(12):
        phone = f"09123450{i:02d}"
        made.append(submit(client, petitioner={"phone": phone, "consent_notifications": True},
                           title=f"Đường ngập số {i}")["id"])
        clock.advance(days=7, hours=3)
    newest_first = list(reversed(made))
    headers = token("secretariat")
    seen = []
    for page in (1, 2, 3):
        body = client.get(f"{BASE}?page_size=5&page={page}&q=ngập", headers=headers).json
        seen += [item["id"] for item in body["items"]]
    assert seen == newest_first
    first = client.get(f"{BASE}?page_size=5", headers=headers).json
    # page 1 did not need every bucket: the count is what was seen, and says so
    assert first["total_exact"] is False and 5 < first["total"] < 12
    everything = client.get(f"{BASE}?page_size=100", headers=headers).json
    assert everything["total_exact"] is True and everything["total"] == 12
    # a date range bounds the walk; received_to is exclusive
    start = (clock() - timedelta(days=30)).isoformat()
    ranged = client.get(BASE, headers=headers, query_string={
        "page_size": 100, "received_from": start, "received_to": clock().isoformat()}).json
    assert ranged["total_exact"] is True
    assert [i["id"] for i in ranged["items"]] == newest_first[:4]
    # word search: a whole syllable finds it, a syllable that is not in the text does not
    assert client.get(f"{BASE}?q=so 11", headers=headers).json["total"] == 1
    assert client.get(f"{BASE}?q=ngapx", headers=headers).json["total"] == 0


def test_a_long_petition_with_many_distinct_words_is_stored_and_found(client, token):
    words = [f"tu{i:04d}" for i in range(1500)]
    content = " ".join(words)[:10_000]
    created = submit(client, content=content)
    assert created["id"]
    found = client.get(f"{BASE}?q=tu1200", headers=token("secretariat")).json
    assert [i["id"] for i in found["items"]] == [created["id"]]


def test_issue_list_hottest_first_pages_match_a_full_sort(client, token, clock):
    wards = ["14464", "14500", "14482", "14524", "14488", "14494"]
    phone = iter(range(100))
    for n, ward in enumerate(wards, start=1):  # issue k gets k petitions: heat grows with k
        for _ in range(n):
            submit(client, locality={"province_code": "37", "ward_code": ward},
                   petitioner={"phone": f"0912{next(phone):06d}", "consent_notifications": True})
            clock.advance(minutes=1)
    headers = token("secretariat")
    walked = []
    for page in (1, 2, 3):
        body = client.get(f"/api/v1/issues?page_size=2&page={page}", headers=headers).json
        walked += body["items"]
    assert [i["locality"]["ward_code"] for i in walked] == list(reversed(wards))
    heats = [i["heat"] for i in walked]
    assert heats == sorted(heats, reverse=True) and heats[0] > heats[-1]
    everything = client.get("/api/v1/issues?page_size=50", headers=headers).json
    assert everything["total"] == 6 and everything["total_exact"] is True
    newest = client.get("/api/v1/issues?page_size=50&sort=-created_at", headers=headers).json
    assert [i["locality"]["ward_code"] for i in newest["items"]] == list(reversed(wards))
    coldest = client.get("/api/v1/issues?page_size=50&sort=heat", headers=headers).json
    assert [i["locality"]["ward_code"] for i in coldest["items"]] == wards


def test_a_phrase_is_searched_as_adjacent_words(client, token):
    near = submit(client, title="Đường làng ngập sâu", content="Nước ngập đường làng Đông Thượng.")
    apart = submit(client, title="Làng có đường mới",
                   content="Đường mới làm, làng vui; không ngập.",
                   petitioner={"phone": "0912000111", "consent_notifications": True})
    headers = token("secretariat")
    found = client.get(f"{BASE}?q=đường làng", headers=headers).json
    assert [i["id"] for i in found["items"]] == [near["id"]]
    both = client.get(f"{BASE}?q=làng", headers=headers).json
    assert {i["id"] for i in both["items"]} == {near["id"], apart["id"]}
    assert client.get(f"{BASE}?q=làng đường ngập", headers=headers).json["total"] == 0


def test_events_carry_the_status_they_lead_to(client, built, token):
    """No consumer infers intake's state machine: each event names the resulting status,
    a key of the shared vocabulary."""
    from services.common.contracts.intake import PETITION_STATUS_VI

    officer = token("secretariat")
    one = submit(client)
    two = submit(client, title="Đèn đường khu phố 3 hỏng nhiều tháng nay",
                 content="Toàn bộ đèn đường khu phố 3 không sáng, đi lại ban đêm nguy hiểm.")
    client.post(f"{BASE}/{one['id']}/accept", json={}, headers=officer)
    client.post(f"{BASE}/{one['id']}/answer", json={"answer": "Đã nạo vét cống."},
                headers=officer)
    client.post(f"{BASE}/{one['id']}/close", json={}, headers=officer)
    client.post(f"{BASE}/{two['id']}/reject", json={"reason": "Không thuộc thẩm quyền"},
                headers=officer)
    envelopes = events_on(built.settings, "intake.petitions", min_count=8)
    said = {(e["subject"], e["type"]): e["data"]["status"] for e in envelopes
            if e["type"].startswith("petition.")}
    assert said[(one["id"], "petition.accepted")] == "accepted"
    assert said[(one["id"], "petition.answered")] == "answered"
    assert said[(one["id"], "petition.closed")] == "closed"
    assert said[(two["id"], "petition.rejected")] == "rejected"
    assert set(said.values()) <= set(PETITION_STATUS_VI)

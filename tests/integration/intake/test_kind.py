"""Issue 19: an officer corrects a petition's kind and its deadline follows; a
denunciation is extended at most twice, each time with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.helpers import events_on
from tests.integration.intake.conftest import petition

BASE = "/api/v1/petitions"


def test_kind_correction_moves_the_deadline(client, built, token, clock):
    officer = token("secretariat")
    clock.now = datetime(2027, 1, 7, 2, 0, tzinfo=UTC)  # Thu 07/01/2027, 09:00 in Vietnam
    created = client.post(BASE, json=petition()).json
    ref = created["id"]
    accepted = client.post(f"{BASE}/{ref}/accept", json={}, headers=officer).json
    assert accepted["kind"] == "feedback"
    r = client.post(f"{BASE}/{ref}/kind", json={"kind": "complaint", "note": "Là khiếu nại"},
                    headers=officer)
    assert r.status_code == 200, r.json
    # 30 days from acceptance: Sat 06/02/2027 in Tết, carried to Thu 11/02
    assert r.json["kind"] == "complaint" and r.json["due_date"] == "2027-02-11"
    assert r.json["deadline_source"] == "Luật Khiếu nại 2011, Điều 28"
    assert r.json["accept_by"] == "2027-01-18"  # 17/01 is a Sunday
    r = client.post(f"{BASE}/{ref}/kind", json={"kind": "complaint", "instance": 2,
                                                 "remote": True, "complex": True},
                    headers=officer)
    assert r.json["due_date"] == "2027-03-18" and r.json["instance"] == 2  # 70 days
    doc = built.kit.db.petitions.find_one({"_id": ref})
    assert [h["to"] for h in doc["kind_history"]] == ["complaint", "complaint"]
    assert client.post(f"{BASE}/{ref}/kind", json={"kind": "complaint"},
                       headers=token("auditor")).status_code == 403
    bad = client.post(f"{BASE}/{ref}/kind", json={"kind": "gossip"}, headers=officer)
    assert bad.status_code == 422


def test_denunciation_extended_twice_with_reasons(client, token, clock):
    officer = token("secretariat")
    clock.now = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    ref = client.post(BASE, json=petition()).json["id"]
    client.post(f"{BASE}/{ref}/accept", json={}, headers=officer)
    r = client.post(f"{BASE}/{ref}/extend", json={"reason": "Vụ việc phức tạp"},
                    headers=officer)
    assert r.status_code == 422  # feedback is not extended
    r = client.post(f"{BASE}/{ref}/kind", json={"kind": "denunciation"}, headers=officer)
    assert r.json["due_date"] == "2027-03-31"
    first = client.post(f"{BASE}/{ref}/extend", json={"reason": "Cần xác minh thêm"},
                        headers=officer)
    assert first.status_code == 200 and first.json["due_date"] == "2027-05-04"
    second = client.post(f"{BASE}/{ref}/extend", json={"reason": "Đặc biệt phức tạp"},
                         headers=officer)
    assert second.json["due_date"] == "2027-05-31"
    assert [e["reason"] for e in second.json["extensions"]] == ["Cần xác minh thêm",
                                                                 "Đặc biệt phức tạp"]
    third = client.post(f"{BASE}/{ref}/extend", json={"reason": "Lần ba"}, headers=officer)
    assert third.status_code == 422 and "hai lần" in third.json["detail_vi"]
    assert client.post(f"{BASE}/{ref}/extend", json={}, headers=officer).status_code == 422


def test_denouncer_hidden_from_officers_without_the_role(client, token):
    created = client.post(BASE, json=petition(kind="denunciation",
                                              title="Tố cáo cán bộ địa chính nhận tiền",
                                              content="Cán bộ địa chính xã nhận tiền để "
                                                      "làm nhanh hồ sơ cấp giấy chứng nhận."))
    assert created.status_code == 201, created.json
    ref = created.json["id"]
    seen = client.get(f"{BASE}/{ref}", headers=token("secretariat")).json
    assert seen["petitioner"]["full_name"] == "Phạm Văn Hùng"
    for role in ("front_officer", "host", "agency_officer"):
        hidden = client.get(f"{BASE}/{ref}", headers=token(role))
        assert hidden.status_code == 200, hidden.json
        assert hidden.json["petitioner"] == {"confidential": True}
        assert hidden.json["masked_phone"] is None and "Hùng" not in str(hidden.json)
        listed = client.get(f"{BASE}?kind=denunciation", headers=token(role)).json
        assert [i["masked_phone"] for i in listed["items"]] == [None]
    listed = client.get(f"{BASE}?kind=denunciation", headers=token("auditor")).json
    assert listed["items"][0]["masked_phone"]


def test_kind_correction_is_published(client, built, token, clock):
    """notify and the portal follow a corrected kind: ``petition.kind_corrected`` with the
    new kind, deadline and status."""
    officer = token("secretariat")
    clock.now = datetime(2027, 1, 7, 2, 0, tzinfo=UTC)
    ref = client.post(BASE, json=petition()).json["id"]
    client.post(f"{BASE}/{ref}/accept", json={}, headers=officer)
    client.post(f"{BASE}/{ref}/kind", json={"kind": "complaint"}, headers=officer)
    envelopes = events_on(built.settings, "intake.petitions", min_count=3)
    corrected = next(e for e in envelopes if e["type"] == "petition.kind_corrected")
    assert corrected["subject"] == ref
    data = corrected["data"]
    assert (data["kind"], data["previous_kind"], data["status"]) == \
        ("complaint", "feedback", "accepted")
    assert data["due_date"] == "2027-02-11" and data["accept_by"] == "2027-01-18"
    assert data["deadline_source"] == "Luật Khiếu nại 2011, Điều 28"


def test_a_new_petition_uses_the_province_figures(client, built, token, clock, tmp_path,
                                                 monkeypatch):
    """Issue 19: the province's rules apply from submission and from acceptance, not
    only after a kind correction."""
    path = tmp_path / "deadlines.yaml"
    path.write_text('provinces:\n  "37":\n    complaint_first: 25\n'
                    '    feedback: {days: 10, working: true, source: "QĐ 12/2026/QĐ-UBND"}\n',
                    encoding="utf-8")
    monkeypatch.setenv("INTAKE_DEADLINES_FILE", str(path))
    clock.now = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # Mon 01/03/2027, 09:00 in Vietnam
    feedback = client.post(BASE, json=petition()).json
    assert feedback["due_date"] == "2027-03-15"  # 10 working days, not the law's 15
    complaint = client.post(BASE, json=petition(kind="complaint")).json
    stored = built.kit.db.petitions.find_one({"_id": complaint["id"]})
    assert stored["accept_by"] == "2027-03-11"  # 10 days to accept, by the law
    assert stored["deadline_source"] == "quy định của tỉnh 37"
    clock.now = datetime(2027, 3, 3, 2, 0, tzinfo=UTC)
    accepted = client.post(f"{BASE}/{complaint['id']}/accept", json={},
                           headers=token("secretariat")).json
    assert accepted["due_date"] == "2027-03-29"  # 25 days from Wed 03/03 (28/03 a Sunday)


def test_a_petition_corrected_to_a_denunciation_leaves_its_issue(client, built, token):
    """Issue 19: a denunciation is never in an issue, even one found out after grouping;
    corrected back, it is grouped like any petition."""
    from tests.integration.intake.conftest import group_now

    officer = token("secretariat")
    ref = client.post(BASE, json=petition()).json["id"]
    issue_id = group_now(built.intake, ref)
    assert issue_id is not None
    r = client.post(f"{BASE}/{ref}/kind", json={"kind": "denunciation"}, headers=officer)
    assert r.status_code == 200 and r.json["issue_id"] is None
    issue = built.kit.db.issues.find_one({"_id": issue_id})
    assert issue["petition_count"] == 0 and issue["status"] == "closed"
    assert "ungrouped" not in built.kit.db.petitions.find_one({"_id": ref})
    envelopes = events_on(built.settings, "intake.petitions", min_count=3)
    corrected = [e["data"] for e in envelopes if e["type"] == "petition.kind_corrected"]
    assert corrected[0]["issue_id"] is None and corrected[0]["kind"] == "denunciation"
    back = client.post(f"{BASE}/{ref}/kind", json={"kind": "feedback"}, headers=officer)
    assert back.status_code == 200 and back.json["issue_id"] is not None

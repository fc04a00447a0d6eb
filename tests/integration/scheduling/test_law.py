"""Issue 19 over HTTP on real FerretDB and Kafka: which dialogues the law counts, notice
numbers unique per body and year, back-dated notices, results overdue, deadlines."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.scheduling.conftest import dialogue_body

D = "/api/v1/dialogues"
ITEM = {"text": "Sửa đường liên thôn", "responsible_agency_id": "so-gtvt-37",
        "working_days": 15}


def _held(api, clock, *, ward="14464", host="Nguyễn Văn An", **body):
    start = clock() + timedelta(days=8)
    r = api.post(D, dialogue_body(
        locality={"province_code": "37", "ward_code": ward},
        host={"name": host, "title": body.pop("host_title", "Chủ tịch UBND xã")},
        venue=f"Hội trường {ward} {host}", starts_at=start.isoformat(),
        ends_at=(start + timedelta(hours=2)).isoformat(), **body))
    assert r.status_code == 201, r.json
    d = r.json
    assert api.post(f"{D}/{d['id']}/announce").status_code == 200
    clock.advance(days=8)
    assert api.post(f"{D}/{d['id']}/hold", {"attendance": {"total": 40}}).status_code == 200
    return d


def _conclude(api, clock, d, number, **extra):
    return api.post(f"{D}/{d['id']}/conclude", {
        "notice_number": number, "issued_at": clock().isoformat(), "signed_by": "Nguyễn Văn An",
        "conclusions": [ITEM], **extra})


def test_only_the_art_43_conference_counts(api, clock):
    conference = _held(api, clock)
    assert conference["form"] == "conference"  # read from the Front and council co-chairs
    party = _held(api, clock, ward="14482", host="Lê Thị Hoa", host_title="Bí thư Đảng ủy xã",
                  co_chairs=[])
    assert party["form"] == "party_head"
    voters = _held(api, clock, ward="14428", host="Phạm Văn Dũng", form="voter_meeting")
    assert voters["form"] == "voter_meeting"
    r = api.get("/api/v1/compliance?province_code=37&year=2026", roles=("auditor",))
    rows = {row["ward_code"]: row for row in r.json["items"]}
    assert rows["14464"]["dialogues_held"] == 1 and rows["14464"]["annual_minimum_met"]
    assert rows["14482"]["dialogues_held"] == 0 and not rows["14482"]["annual_minimum_met"]
    assert rows["14482"]["party_dialogues_held"] == 1
    assert rows["14428"]["dialogues_held"] == 0 and rows["14428"]["party_dialogues_held"] == 0
    listed = api.get(f"{D}?form=party_head").json
    assert [d["id"] for d in listed["items"]] == [party["id"]]


def test_conference_without_the_council_is_refused(api):
    r = api.post(D, dialogue_body(form="conference", co_chairs=[
        {"name": "Trần Thị Bình", "title": "Chủ tịch Ủy ban MTTQ xã"}]))
    assert r.status_code == 422 and "co_chairs" in r.json["errors"]
    assert "Hội đồng nhân dân" in r.json["detail_vi"]


def test_notice_numbers_state_format_unique_per_body_and_year(api, clock):
    first = _held(api, clock)
    second = _held(api, clock, host="Trần Văn Bình")
    other = _held(api, clock, ward="14482", host="Lê Thị Hoa")
    assert _conclude(api, clock, first, "15/TB-UBND").status_code == 200
    again = _conclude(api, clock, second, "15/TB-UBND")
    assert again.status_code == 409 and "15/TB-UBND" in again.json["detail_vi"]
    # the dialogue is unchanged, and the Party's number 15 is another body's
    assert api.get(f"{D}/{second['id']}").json["state"] == "held"
    assert _conclude(api, clock, second, "15-TB/ĐU").status_code == 200
    # commune 14482's People's Committee numbers its own notices
    assert _conclude(api, clock, other, "15/TB-UBND").status_code == 200
    assert _conclude(api, clock, first, "03-TB/UBND").status_code in (409, 422)


def test_back_dated_notice_is_declared_and_judged_on_its_entry(api, clock):
    d = _held(api, clock)
    held_at = clock()
    clock.advance(days=39)  # entered 39 days after the dialogue, dated 2 days after it
    claimed = (held_at + timedelta(days=2)).isoformat()
    r = api.post(f"{D}/{d['id']}/conclude", {"notice_number": "15/TB-UBND",
                                             "issued_at": claimed, "signed_by": "A",
                                             "conclusions": [ITEM]})
    assert r.status_code == 422 and "issued_reason" in r.json["errors"]
    r = api.post(f"{D}/{d['id']}/conclude", {
        "notice_number": "15/TB-UBND", "issued_at": claimed, "signed_by": "A",
        "issued_reason": "Văn bản giấy ban hành đúng hạn, nay mới nhập", "conclusions": [ITEM]})
    assert r.status_code == 200, r.json
    notice = r.json["notice"]
    assert notice["issued_at_basis"] == "declared" and notice["late_declared"] is False
    assert notice["recorded_at"].startswith(clock().isoformat()[:16])
    assert r.json["late"] is True


def test_held_without_notice_is_late_after_ten_days(api, clock):
    d = _held(api, clock)
    clock.advance(days=10)
    assert api.get(f"{D}/{d['id']}").json["results_overdue"] is False
    clock.advance(days=1)
    assert api.get(f"{D}/{d['id']}").json["results_overdue"] is True


def test_fixed_deadline_before_the_notice_is_refused(api, clock):
    d = _held(api, clock)
    day_before = (clock() - timedelta(days=1)).date().isoformat()
    r = _conclude(api, clock, d, "15/TB-UBND", conclusions=[
        {"text": "x", "responsible_agency_id": "so-gtvt-37", "deadline": day_before}])
    assert r.status_code == 422 and "conclusions.0.deadline" in r.json["errors"]

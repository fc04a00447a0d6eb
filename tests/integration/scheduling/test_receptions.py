"""Issue 19: reception days on a public schedule, compliance per month."""

from __future__ import annotations

from datetime import timedelta

RD = "/api/v1/reception-days"


def _day(api, clock, days, ward="14464", level="commune"):
    start = clock() + timedelta(days=days)
    r = api.post(RD, {"level": level,
                      "locality": {"province_code": "37",
                                   "ward_code": ward if level == "commune" else None},
                      "host": {"name": "Nguyễn Văn An", "title": "Bí thư Đảng ủy xã"},
                      "venue": "Phòng tiếp công dân", "starts_at": start.isoformat(),
                      "ends_at": (start + timedelta(hours=4)).isoformat()})
    assert r.status_code == 201, r.json
    return r.json


def test_reception_days_public_schedule_and_monthly_compliance(api, clock):
    # START is 02/03/2026: days on 03/03 and 17/03 for Gia Viễn, 10/03 for the province
    first, second = _day(api, clock, 1), _day(api, clock, 15)
    province = _day(api, clock, 8, level="province")
    _day(api, clock, 2, ward="14482")
    public = api.get(f"{RD}?unit_code=14464&from=2026-03-01&to=2026-03-31", roles=())
    assert public.status_code == 200
    assert [d["id"] for d in public.json["items"]] == [first["id"], second["id"]]
    assert "created_by" not in public.json["items"][0]
    assert public.json["items"][0]["starts_at_display"] == "08:00 03/03/2026"
    assert api.post(f"{RD}/{first['id']}/hold", {"citizens": 5}).status_code == 409  # early
    clock.advance(days=16)
    for d in (first, second, province):
        assert api.post(f"{RD}/{d['id']}/hold", {"citizens": 7}).status_code == 200
    assert api.post(f"{RD}/{first['id']}/hold", {"citizens": 7}).status_code == 409
    r = api.get("/api/v1/reception-compliance?province_code=37&month=2026-03",
                roles=("auditor",))
    assert r.status_code == 200, r.json
    rows = {row["unit_code"]: row for row in r.json["items"]}
    assert rows["37"]["level"] == "province" and rows["37"]["met"]
    assert rows["14464"] == {"unit_code": "14464", "name": "Xã Gia Viễn", "level": "commune",
                             "held": 2, "minimum": 2, "met": True}
    assert rows["14482"]["held"] == 0 and not rows["14482"]["met"]  # scheduled, not held
    assert r.json["units_below_minimum"] == 128 and r.json["source"].startswith("Quy định 11")
    assert api.post(RD, {}, roles=()).status_code == 401

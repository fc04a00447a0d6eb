"""Citizen reception days (ngày tiếp công dân) of Party heads: a public schedule per
unit, and compliance counted like dialogues.

Minimum per month: Quy định 11-QĐi/TW ngày 18/02/2019 of the Politburo (on the duty of
Party heads to receive citizens, dialogue with them and handle what they raise), Điều 4
khoản 1: the head of the province's Party committee at least 1 day a month, the head of
a commune's at least 2 days a month. Kết luận 215-KL/TW ngày 23/11/2025 amended that
clause and Điều 1 khoản 2 for the two-level local government: the rule now applies to
the province and the commune only (the district level is gone); the two figures stand.

Not counted here: the People's Committee chairs' own reception duty under Luật Tiếp công
dân 2013 (a commune chair receives citizens at least 1 day a week, Điều 15 khoản 2 điểm
d), which is the state's, not the Party head's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING

from services.common.auth import Principal
from services.common.clock import aware, vn_today
from services.common.errors import Conflict, Invalid, NotFound
from services.common.localities import UnknownLocality, province, validate, wards_of
from services.common.mongo import Index, asc
from services.common.text import nfc

COLLECTION = "reception_days"
MONTHLY_MINIMUM = {"province": 1, "commune": 2}  # QĐ 11-QĐi/TW, Điều 4 khoản 1
SOURCE = ("Quy định 11-QĐi/TW ngày 18/02/2019, Điều 4 khoản 1 (sửa đổi bởi Kết luận "
          "215-KL/TW ngày 23/11/2025)")
SCHEDULED, HELD, CANCELLED = "scheduled", "held", "cancelled"
INDEXES = [Index(COLLECTION, asc("locality.province_code", "month"), name="reception_month"),
           Index(COLLECTION, asc("unit_code", "starts_at"), name="reception_unit")]


def check(level: str, locality: dict[str, Any], starts_at: datetime,
          ends_at: datetime) -> None:
    try:
        validate(locality["province_code"], locality.get("ward_code"))
    except UnknownLocality as exc:
        raise Invalid("locality", str(exc), detail_vi="Địa bàn không hợp lệ.") from None
    if (level == "commune") != bool(locality.get("ward_code")):
        raise Invalid("locality.ward_code", "a commune's reception day names the commune, a "
                      "province's does not", detail_vi="Lịch tiếp công dân cấp xã phải nêu "
                      "xã, phường; cấp tỉnh thì không.")
    if ends_at <= starts_at:
        raise Invalid("ends_at", "must be after starts_at",
                      detail_vi="Thời gian kết thúc phải sau thời gian bắt đầu.")


def month_rows(level: str, held: dict[str, int], units: list[tuple[str, str]]) -> list[dict]:
    """One row per unit: reception days held in the month against the minimum."""
    need = MONTHLY_MINIMUM[level]
    return [{"unit_code": code, "name": name, "level": level, "held": held.get(code, 0),
             "minimum": need, "met": held.get(code, 0) >= need} for code, name in units]


class Receptions:
    def __init__(self, db: Any, clock: Any, audit: Any) -> None:
        self.db = db
        self.clock = clock
        self.audit = audit

    @property
    def days(self):
        return self.db[COLLECTION]

    def schedule(self, who: Principal, data: dict[str, Any]) -> dict[str, Any]:
        locality = {"province_code": data["locality"]["province_code"],
                    "ward_code": data["locality"].get("ward_code")}
        who.require_scope(locality["province_code"], locality["ward_code"])
        starts, ends = aware(data["starts_at"]), aware(data["ends_at"])
        check(data["level"], locality, starts, ends)
        now = aware(self.clock())
        day = vn_today(starts)
        doc = {"_id": str(uuid.uuid4()), "level": data["level"], "locality": locality,
               "unit_code": locality["ward_code"] or locality["province_code"],
               "host": {"name": nfc(data["host"]["name"]), "title": nfc(data["host"]["title"])},
               "venue": nfc(data["venue"]), "starts_at": starts, "ends_at": ends,
               "day": day.isoformat(), "month": day.strftime("%Y-%m"), "state": SCHEDULED,
               "created_at": now, "created_by": who.sub}
        self.days.insert_one(doc)
        self.audit.record(who, "reception.schedule", "reception_day", doc["_id"],
                          {"day": doc["day"]})
        return doc

    def hold(self, who: Principal, reception_id: str, citizens: int) -> dict[str, Any]:
        doc = self.days.find_one({"_id": reception_id})
        if doc is None:
            raise NotFound("no such reception day", detail_vi="Không tìm thấy lịch tiếp dân.")
        who.require_scope(doc["locality"]["province_code"], doc["locality"].get("ward_code"))
        now = aware(self.clock())
        if now < aware(doc["starts_at"]):
            raise Conflict("a reception day is recorded as held from its start on",
                           detail_vi="Chưa đến thời gian tiếp công dân.")
        if not self.days.update_one({"_id": reception_id, "state": SCHEDULED},
                                    {"$set": {"state": HELD, "held_at": now,
                                              "citizens": citizens}}).matched_count:
            raise Conflict("the reception day is not scheduled any more",
                           detail_vi="Lịch tiếp công dân này đã được ghi nhận hoặc đã hủy.")
        self.audit.record(who, "reception.hold", "reception_day", reception_id,
                          {"citizens": citizens})
        return self.days.find_one({"_id": reception_id})

    def public(self, unit_code: str | None, province_code: str | None, start: date,
               end: date) -> list[dict[str, Any]]:
        """The published schedule: no personal data, anyone may read it."""
        query: dict[str, Any] = {"state": {"$in": [SCHEDULED, HELD]},
                                 "day": {"$gte": start.isoformat(), "$lte": end.isoformat()}}
        if unit_code:
            query["unit_code"] = unit_code
        if province_code:
            query["locality.province_code"] = province_code
        return list(self.days.find(query, {"created_by": 0}).sort("starts_at", ASCENDING)
                    .limit(500))

    def compliance(self, who: Principal, province_code: str, month: str) -> dict[str, Any]:
        who.require_scope(province_code, who.ward_code)
        held: dict[str, int] = {}
        for doc in self.days.find({"locality.province_code": province_code, "month": month,
                                   "state": HELD}, {"unit_code": 1}):
            held[doc["unit_code"]] = held.get(doc["unit_code"], 0) + 1
        try:
            name = province(province_code).name
        except UnknownLocality:
            name = province_code
        rows = month_rows("province", held, [(province_code, name)])
        communes = [(u.code, u.name) for u in wards_of(province_code)
                    if not who.ward_code or u.code == who.ward_code]
        rows += month_rows("commune", held, communes)
        if who.ward_code:
            rows = [r for r in rows if r["level"] == "commune"]
        return {"province_code": province_code, "month": month, "source": SOURCE,
                "total": len(rows), "units_below_minimum": sum(1 for r in rows if not r["met"]),
                "items": rows}

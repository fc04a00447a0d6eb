"""Issue 19: reception days, at least one a month for the province head and two for a
commune head (Quy định 11-QĐi/TW, Điều 4 khoản 1, as amended by Kết luận 215-KL/TW of
23/11/2025)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.common.clock import VN_TZ
from services.common.errors import Invalid
from services.scheduling import receptions

AT = datetime(2026, 4, 7, 8, 0, tzinfo=VN_TZ)


def test_monthly_minimum_per_level():
    rows = receptions.month_rows("commune", {"14464": 2, "14482": 1},
                                 [("14464", "Xã Gia Viễn"), ("14482", "Xã Gia Hưng"),
                                  ("14428", "Xã Nho Quan")])
    assert [(r["unit_code"], r["held"], r["met"]) for r in rows] == [
        ("14464", 2, True), ("14482", 1, False), ("14428", 0, False)]
    province = receptions.month_rows("province", {"37": 1}, [("37", "Ninh Bình")])
    assert province[0]["met"] and province[0]["minimum"] == 1


def test_locality_matches_the_level():
    receptions.check("commune", {"province_code": "37", "ward_code": "14464"}, AT,
                     AT + timedelta(hours=4))
    receptions.check("province", {"province_code": "37", "ward_code": None}, AT,
                     AT + timedelta(hours=4))
    with pytest.raises(Invalid):
        receptions.check("commune", {"province_code": "37", "ward_code": None}, AT,
                         AT + timedelta(hours=4))
    with pytest.raises(Invalid):
        receptions.check("province", {"province_code": "37", "ward_code": "14464"}, AT,
                         AT + timedelta(hours=4))
    with pytest.raises(Invalid):
        receptions.check("commune", {"province_code": "37", "ward_code": "14464"}, AT, AT)

"""The officers' blueprint and what its pages share: who is signed in, the communes they
may pick, and the Vietnamese names of the services' codes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from services.portal.citizen import wards
from services.portal.pages import settings

blueprint = Blueprint("officer", __name__, url_prefix="/can-bo")

NOTICE_DAYS = 7
DIALOGUE_KINDS = {"periodic": "Định kỳ", "thematic": "Chuyên đề", "ad_hoc": "Đột xuất"}
FORMATS = {"in_person": "Trực tiếp", "online": "Trực tuyến", "hybrid": "Trực tiếp và trực tuyến"}
OUTCOMES = {"resolved": "Đã giải quyết", "partially_resolved": "Giải quyết một phần",
            "not_feasible": "Không thể thực hiện"}
CATEGORIES = {"land": "Đất đai", "environment": "Môi trường", "social_policy": "Chính sách xã hội",
              "infrastructure": "Hạ tầng", "administrative": "Thủ tục hành chính",
              "civil_status": "Hộ tịch, cư trú", "construction": "Xây dựng",
              "labour": "Lao động, việc làm", "security": "An ninh, trật tự", "other": "Khác"}


def me() -> dict[str, Any]:
    return g.user


def my_wards() -> list:
    """The communes an officer may pick: their own, or every one of their province."""
    user = me()
    every = wards(user.get("province_code") or settings().province_code)
    return [w for w in every if w.code == user["ward_code"]] if user.get("ward_code") else every

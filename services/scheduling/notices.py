"""Conclusion notices (thông báo kết luận): their numbers, dates and lateness, and the
conclusion of a dialogue as a change of the dialogue aggregate.

Plain Python, no I/O. Legal figures: results are published within 10 days of the
dialogue (Luật Tổ chức chính quyền địa phương 2025, Điều 43); numbers follow Nghị định
30/2020/NĐ-CP (state bodies) or Hướng dẫn 36-HD/VPTW (Party bodies).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from services.common.clock import aware, vn_today
from services.common.errors import Invalid
from services.common.text import nfc
from services.scheduling.domain import CONCLUDED, Change, check_transition

RESULTS_DAYS = 10

_NAMESPACE = uuid.UUID("0d7b6c1e-58a4-4b7e-9f0c-5a2c3e7d9b41")

# Document numbers of conclusion notices.
# State bodies (Nghị định 30/2020/NĐ-CP, Phụ lục III): "Số: 15/TB-UBND", number / kind
# - issuing body. Party bodies (Hướng dẫn 36-HD/VPTW năm 2018): "Số 15-TB/ĐU",
# number - kind / issuing body.
_STATE = re.compile(r"^(\d{1,5})/TB-([^\W\d_]+(?:-[^\W\d_]+)*)$")
_PARTY = re.compile(r"^(\d{1,5})-TB/([^\W\d_]+(?:-[^\W\d_]+)*)$")
# State bodies never number in the Party's format, and the reverse.
_STATE_TAGS = ("UBND", "HĐND", "VPUB", "SỞ")


def parse_notice_number(number: str) -> dict[str, Any]:
    """``{"number", "serial", "body", "format"}`` of a conclusion notice's number."""
    text = " ".join(number.split()).removeprefix("Số:").removeprefix("Số").strip()
    for form, pattern in (("state", _STATE), ("party", _PARTY)):
        found = pattern.match(text)
        if not found or found.group(2) != found.group(2).upper():
            continue
        body = found.group(2)
        is_state = body.startswith("UB") or any(tag in body for tag in _STATE_TAGS)
        if (form == "state") != is_state:
            continue
        return {"number": text, "serial": int(found.group(1)), "body": body, "format": form}
    raise Invalid("notice_number", "expected 15/TB-UBND (state, Decree 30/2020) or 15-TB/ĐU "
                  "(Party)", detail_vi="Số thông báo phải có dạng 15/TB-UBND (cơ quan nhà "
                  "nước, Nghị định 30/2020/NĐ-CP) hoặc 15-TB/ĐU (cơ quan Đảng).")


def check_notice_number(number: str) -> str:
    return parse_notice_number(number)["number"]


def notice_key(unit_code: str, parsed: dict[str, Any], issued_at: datetime) -> str:
    """Numbers run per issuing body and year: a body is its abbreviation in its unit."""
    return f"{unit_code}|{parsed['body']}|{vn_today(issued_at).year}|{parsed['serial']}"


def is_late(held_at: datetime, issued_at: datetime) -> bool:
    """Issued more than 10 calendar days (Vietnam time) after the dialogue."""
    return (vn_today(issued_at) - vn_today(held_at)).days > RESULTS_DAYS


def results_overdue(held_at: datetime, now: datetime) -> bool:
    """Held but with no conclusion notice after 10 days: late already."""
    return is_late(held_at, now)


def check_issued(held_at: datetime, issued_at: datetime, now: datetime) -> None:
    if vn_today(issued_at) < vn_today(held_at):
        raise Invalid("issued_at", "cannot be before the dialogue was held",
                      detail_vi="Ngày ban hành không thể trước ngày đối thoại.")
    if issued_at > now:
        raise Invalid("issued_at", "cannot be in the future",
                      detail_vi="Ngày ban hành không thể ở tương lai.")


def issued_record(held_at: datetime, issued_at: datetime, now: datetime,
                  reason: str | None) -> dict[str, Any]:
    """What the notice's date rests on. The server's entry time is proven; a date
    claimed earlier than the entry day is only declared and needs a reason, and the
    10-day rule is judged on the entry day, which nobody can back-date."""
    check_issued(held_at, issued_at, now)
    backdated = vn_today(issued_at) < vn_today(now)
    if backdated and not (reason and reason.strip()):
        raise Invalid("issued_reason", "a notice dated before the day it is entered needs a "
                      "reason", detail_vi="Thông báo ghi ngày ban hành trước ngày nhập vào hệ "
                      "thống, cần nêu lý do.")
    return {"issued_at": issued_at, "recorded_at": now,
            "issued_at_basis": "declared" if backdated else "recorded",
            "issued_reason": reason.strip() if backdated and reason else None,
            "late": is_late(held_at, now), "late_declared": is_late(held_at, issued_at)}


def check_commitment_deadline(index: int, deadline: date | None, issued_at: datetime) -> None:
    """A fixed deadline cannot fall before the notice that sets it."""
    if deadline is not None and deadline < vn_today(issued_at):
        raise Invalid(f"conclusions.{index}.deadline", "is before the notice date",
                      detail_vi="Hạn xử lý không thể trước ngày ban hành thông báo kết luận.")


def conclusion_id(dialogue_id: str, index: int) -> str:
    """Stable: the same dialogue and position give the same id on every retry."""
    return str(uuid.uuid5(_NAMESPACE, f"{dialogue_id}/conclusion/{index}"))


def check_conclusion(index: int, item: dict[str, Any]) -> None:
    has_deadline = item.get("deadline") is not None
    has_days = item.get("working_days") is not None
    if has_deadline == has_days:
        raise Invalid(f"conclusions.{index}.deadline", "give either deadline or working_days",
                      detail_vi="Nêu hạn xử lý bằng ngày cụ thể hoặc số ngày làm việc.")




def conclude(doc: dict[str, Any], data: dict[str, Any], now: datetime) -> tuple[Change, str]:
    """The conclusion notice of a held dialogue, and the key under which its number is
    claimed (one number per issuing body and year)."""
    check_transition("conclude", doc["state"])
    parsed = parse_notice_number(data["notice_number"])
    number = parsed["number"]
    issued_at = aware(data["issued_at"])
    record = issued_record(aware(doc["held_at"]), issued_at, now, data.get("issued_reason"))
    late = record["late"]
    conclusions = []
    for index, item in enumerate(data["conclusions"]):
        check_conclusion(index, item)
        check_commitment_deadline(index, item.get("deadline"), issued_at)
        conclusions.append({
            "conclusion_id": conclusion_id(doc["_id"], index),
            "text": nfc(item["text"]),
            "responsible_agency_id": item["responsible_agency_id"],
            "coordinating_agency_ids": list(dict.fromkeys(
                item.get("coordinating_agency_ids", []))),
            "deadline": item.get("deadline"), "working_days": item.get("working_days"),
            "petition_ids": list(dict.fromkeys(item.get("petition_ids", []))),
        })
    signed_by = nfc(data["signed_by"])
    stored = [{**c, "deadline": c["deadline"].isoformat() if c["deadline"] else None}
              for c in conclusions]  # BSON has no date type
    key = notice_key(doc["unit_code"], parsed, issued_at)
    change = Change(
        set={"state": CONCLUDED, "late": late, "conclusions": stored,
             "notice": {"number": number, "issued_at": issued_at, "signed_by": signed_by,
                        "format": parsed["format"], "key": key,
                        "recorded_at": record["recorded_at"],
                        "issued_at_basis": record["issued_at_basis"],
                        "issued_reason": record["issued_reason"],
                        "late_declared": record["late_declared"]}},
        events=[("dialogue.concluded", {
            "dialogue_id": doc["_id"], "locality": doc["locality"], "host": doc["host"],
            "topic": doc["topic"], "notice_number": number, "issued_at": issued_at,
            "signed_by": signed_by, "held_at": doc["held_at"], "late": late,
            "conclusions": conclusions})],
        details={"notice_number": number, "late": late, "conclusions": len(stored),
                 "issued_at_basis": record["issued_at_basis"]})
    return change, key

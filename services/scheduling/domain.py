"""Rules of dialogues, agendas, conclusion notices and dialogue requests. No I/O.

Legal figures (DOMAIN.md): the notice is published at least 7 days ahead
(ad hoc dialogues may be sooner, with a reason); results are published within
10 days; a commune owes a dialogue when 10% of its voters ask for one
(Luật Tổ chức chính quyền địa phương 2025, Điều 43).

Forms of dialogue (``form``), which the law counts differently:
- ``conference``: the art. 43 conference of the commune People's Committee with
  the Front, co-chaired by the Front and the People's Council; the only form that
  meets the annual minimum and a dialogue requested by 10 % of voters;
- ``party_head``: a Party head's dialogue with citizens (Quy định 11-QĐ/TW ngày
  18/02/2019), counted for the Party's own duty;
- ``voter_meeting``: a meeting of deputies with voters (tiếp xúc cử tri, Luật Tổ
  chức Quốc hội / Luật Tổ chức chính quyền địa phương), which is not a dialogue;
- ``other``: any other dialogue, not counted. A dialogue created without a form
  gets ``conference`` only if its co-chairs include the Front and the council.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime
from typing import Any

from services.common.clock import vn_today
from services.common.errors import Conflict, Invalid
from services.common.text import fold
from services.common.workdays import calendar_days_between

NOTICE_DAYS = 7
RESULTS_DAYS = 10
REQUEST_SHARE_PERCENT = 10

DRAFT, ANNOUNCED, HELD, CONCLUDED, CANCELLED = (
    "draft", "announced", "held", "concluded", "cancelled")
STATES = (DRAFT, ANNOUNCED, HELD, CONCLUDED, CANCELLED)
# Agenda items may change until the dialogue has taken place.
EDITABLE = (DRAFT, ANNOUNCED)

# action -> states it may start from; the target state is in TARGET.
ALLOWED: dict[str, tuple[str, ...]] = {
    "announce": (DRAFT,),
    "reschedule": (ANNOUNCED,),
    "cancel": (DRAFT, ANNOUNCED),
    "hold": (ANNOUNCED,),
    "conclude": (HELD,),
}
TARGET = {"announce": ANNOUNCED, "reschedule": ANNOUNCED, "cancel": CANCELLED,
          "hold": HELD, "conclude": CONCLUDED}

# "Không thể thực hiện vì cuộc đối thoại <…>." reads as a sentence with these.
_VI_STATE = {DRAFT: "đang ở dạng dự thảo", ANNOUNCED: "đã được thông báo",
             HELD: "đã được tổ chức", CONCLUDED: "đã có thông báo kết luận",
             CANCELLED: "đã bị hủy"}

CONFERENCE, PARTY_HEAD, VOTER_MEETING, OTHER = (
    "conference", "party_head", "voter_meeting", "other")
FORMS = (CONFERENCE, PARTY_HEAD, VOTER_MEETING, OTHER)
FORM_VI = {CONFERENCE: "Hội nghị đối thoại (Điều 43 Luật Tổ chức chính quyền địa phương)",
           PARTY_HEAD: "Đối thoại của người đứng đầu cấp ủy (Quy định 11-QĐ/TW)",
           VOTER_MEETING: "Tiếp xúc cử tri", OTHER: "Đối thoại khác"}
# Only these count towards the art. 43 duties (annual minimum, 10 % requests).
COUNTED_FORMS = (CONFERENCE,)
NOT_COUNTED_FORMS = (PARTY_HEAD, VOTER_MEETING, OTHER)
BODIES = ("party", "committee", "council", "front", "other")

_NAMESPACE = uuid.UUID("0d7b6c1e-58a4-4b7e-9f0c-5a2c3e7d9b41")


def check_transition(action: str, state: str) -> str:
    """The state ``action`` leads to from ``state``; Conflict if it is out of order."""
    if state not in ALLOWED[action]:
        raise Conflict(
            f"cannot {action} a dialogue that is {state}",
            detail_vi=f"Không thể thực hiện vì cuộc đối thoại {_VI_STATE.get(state, state)}.",
            state=state)
    return TARGET[action]


def check_editable(state: str) -> None:
    if state not in EDITABLE:
        raise Conflict(f"the agenda cannot change once the dialogue is {state}",
                       detail_vi="Không thể sửa chương trình khi cuộc đối thoại "
                                 f"{_VI_STATE.get(state, state)}.", state=state)


def check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise Invalid("ends_at", "must be after starts_at",
                      detail_vi="Thời gian kết thúc phải sau thời gian bắt đầu.")


def check_place(format_: str, venue: str | None, online_url: str | None) -> None:
    """In person needs a venue, online a link, hybrid both."""
    if format_ in ("in_person", "hybrid") and not venue:
        raise Invalid("venue", f"required for format {format_}",
                      detail_vi="Cần nêu địa điểm tổ chức.")
    if format_ in ("online", "hybrid") and not online_url:
        raise Invalid("online_url", f"required for format {format_}",
                      detail_vi="Cần nêu đường dẫn tham gia trực tuyến.")


def check_level(level: str, ward_code: str | None) -> None:
    if level == "commune" and not ward_code:
        raise Invalid("locality.ward_code", "required for a commune-level dialogue",
                      detail_vi="Cần nêu mã xã, phường.")
    if level == "province" and ward_code:
        raise Invalid("locality.ward_code", "must be empty for a province-level dialogue",
                      detail_vi="Đối thoại cấp tỉnh không gắn với một xã, phường.")


def body_of(person: dict[str, Any]) -> str:
    """Which body a co-chair represents: as given, else read from the title."""
    if person.get("body"):
        return person["body"]
    title = f" {fold(person.get('title', ''))} "
    if "mat tran" in title or " mttq" in title:
        return "front"
    if "hoi dong nhan dan" in title or " hdnd" in title:
        return "council"
    if "uy ban nhan dan" in title or " ubnd" in title:
        return "committee"
    if "dang uy" in title or "bi thu" in title or "tinh uy" in title:
        return "party"
    return "other"


def infer_form(level: str, host: dict[str, Any], co_chairs: list[dict[str, Any]]) -> str:
    """The form of a dialogue created without one: what its make-up shows."""
    bodies = {body_of(c) for c in co_chairs}
    if level == "commune" and {"front", "council"} <= bodies:
        return CONFERENCE
    return PARTY_HEAD if body_of(host) == "party" else OTHER


def check_form(form: str, level: str, co_chairs: list[dict[str, Any]]) -> None:
    """The art. 43 conference is a commune's, with the Front and the council co-chairing."""
    if form != CONFERENCE:
        return
    if level != "commune":
        raise Invalid("form", "the art. 43 conference is held by a commune",
                      detail_vi="Hội nghị đối thoại theo Điều 43 do cấp xã tổ chức.")
    bodies = {body_of(c) for c in co_chairs}
    missing = [b for b in ("front", "council") if b not in bodies]
    if missing:
        raise Invalid("co_chairs", "the art. 43 conference is co-chaired by the Front and "
                      f"the People's Council; missing: {', '.join(missing)}",
                      detail_vi="Hội nghị đối thoại theo Điều 43 phải có đại diện Ủy ban "
                                "Mặt trận Tổ quốc và Hội đồng nhân dân xã cùng chủ trì.")


def check_notice(kind: str, starts_at: datetime, now: datetime, reason: str | None) -> None:
    """At least 7 days ahead, counted in calendar days in Vietnam time (announced on
    01/03 for 08/03 is 7 days, whatever the hours); an ad hoc dialogue may be sooner,
    with a reason."""
    if starts_at <= now:
        raise Conflict("the dialogue would start in the past",
                       detail_vi="Thời gian đối thoại đã qua.")
    if calendar_days_between(now, starts_at) >= NOTICE_DAYS:
        return
    if kind == "ad_hoc":
        if reason and reason.strip():
            return
        raise Conflict(f"an ad hoc dialogue less than {NOTICE_DAYS} days ahead needs a reason",
                       detail_vi="Đối thoại đột xuất thông báo trước dưới 7 ngày phải nêu lý do.")
    raise Conflict(f"a {kind} dialogue must be announced at least {NOTICE_DAYS} days ahead",
                   detail_vi="Phải thông báo trước ít nhất 7 ngày.")


def check_hold(starts_at: datetime, now: datetime) -> None:
    if now < starts_at:
        raise Conflict("a dialogue can be recorded as held only from its start time on",
                       detail_vi="Chưa đến thời gian tổ chức đối thoại.")


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: one ending at 10:00 does not clash with one starting at 10:00."""
    return a_start < b_end and b_start < a_end


def host_key(host: dict[str, Any]) -> str:
    """Who hosts, ignoring case and diacritics, for the overlap rule."""
    return f"{fold(host['name'])}|{fold(host['title'])}"


def venue_key(venue: str | None, locality: dict[str, Any]) -> str | None:
    """The same venue name in two communes is two places."""
    if not venue:
        return None
    return f"{locality.get('ward_code') or locality['province_code']}|{fold(venue)}"


def clash(mine: dict[str, Any], other: dict[str, Any]) -> str | None:
    """'host' or 'venue' when ``other`` (announced) clashes with ``mine``, else None."""
    if other["_id"] == mine["_id"]:
        return None
    if not overlaps(mine["starts_at"], mine["ends_at"], other["starts_at"], other["ends_at"]):
        return None
    if other.get("host_key") == mine.get("host_key"):
        return "host"
    if mine.get("venue_key") and other.get("venue_key") == mine.get("venue_key"):
        return "venue"
    return None


def raise_clash(kind: str, other: dict[str, Any]) -> None:
    what = "host" if kind == "host" else "venue"
    vi = "Người chủ trì" if kind == "host" else "Địa điểm"
    raise Conflict(
        f"{what} already booked by dialogue {other['_id']} ({other['topic']})",
        detail_vi=f"{vi} trùng lịch với cuộc đối thoại “{other['topic']}” đã được thông báo.",
        clash={"type": what, "dialogue_id": other["_id"], "topic": other["topic"],
               "starts_at": other["starts_at"].isoformat(),
               "ends_at": other["ends_at"].isoformat()})


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


def check_agenda_order(current: list[str], wanted: list[str]) -> None:
    if sorted(current) != sorted(wanted) or len(set(wanted)) != len(wanted):
        raise Invalid("item_ids", "must list every agenda item exactly once",
                      detail_vi="Danh sách phải gồm đủ mọi mục, mỗi mục một lần.")


def request_threshold(voters: int) -> int:
    """Requesters needed: 10% of the commune's voters, rounded up."""
    return max(1, math.ceil(voters * REQUEST_SHARE_PERCENT / 100))

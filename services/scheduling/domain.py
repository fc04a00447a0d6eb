"""Rules of dialogues, agendas, conclusion notices and dialogue requests. No I/O.

Legal figures (DOMAIN.md): the notice is published at least 7 days ahead
(ad hoc dialogues may be sooner, with a reason); results are published within
10 days; a commune owes a dialogue when 10% of its voters ask for one.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from services.common.clock import vn_today
from services.common.errors import Conflict, Invalid
from services.common.text import fold

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

_VI_STATE = {DRAFT: "bản nháp", ANNOUNCED: "đã thông báo", HELD: "đã tổ chức",
             CONCLUDED: "đã có thông báo kết luận", CANCELLED: "đã hủy"}

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


def check_notice(kind: str, starts_at: datetime, now: datetime, reason: str | None) -> None:
    """At least 7 days ahead; an ad hoc dialogue may be sooner, with a reason."""
    if starts_at <= now:
        raise Conflict("the dialogue would start in the past",
                       detail_vi="Thời gian đối thoại đã qua.")
    if starts_at - now >= timedelta(days=NOTICE_DAYS):
        return
    if kind == "ad_hoc":
        if reason and reason.strip():
            return
        raise Conflict(f"an ad hoc dialogue less than {NOTICE_DAYS} days ahead needs a reason",
                       detail_vi="Đối thoại đột xuất thông báo dưới 7 ngày phải nêu lý do.")
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
        detail_vi=f"{vi} trùng với cuộc đối thoại «{other['topic']}» đã thông báo.",
        clash={"type": what, "dialogue_id": other["_id"], "topic": other["topic"],
               "starts_at": other["starts_at"].isoformat(),
               "ends_at": other["ends_at"].isoformat()})


# Document numbers of conclusion notices: "15-TB/ĐU", "03-TB/UBND", "120-TB/TU".
_NOTICE = re.compile(r"^(\d{1,5})-TB/([^\W\d_]+(?:-[^\W\d_]+)*)$")


def check_notice_number(number: str) -> str:
    found = _NOTICE.match(number.strip())
    if not found or found.group(2) != found.group(2).upper():
        raise Invalid("notice_number", "expected a number like 15-TB/ĐU or 03-TB/UBND",
                      detail_vi="Số thông báo phải có dạng 15-TB/ĐU.")
    return number.strip()


def is_late(held_at: datetime, issued_at: datetime) -> bool:
    """Issued more than 10 calendar days (Vietnam time) after the dialogue."""
    return (vn_today(issued_at) - vn_today(held_at)).days > RESULTS_DAYS


def check_issued(held_at: datetime, issued_at: datetime, now: datetime) -> None:
    if vn_today(issued_at) < vn_today(held_at):
        raise Invalid("issued_at", "cannot be before the dialogue was held",
                      detail_vi="Ngày ban hành không thể trước ngày đối thoại.")
    if issued_at > now:
        raise Invalid("issued_at", "cannot be in the future",
                      detail_vi="Ngày ban hành không thể ở tương lai.")


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

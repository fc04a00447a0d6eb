"""Petitions and issues as plain rules: tracking codes, categories, the status machine,
due dates, heat and the checks every submission passes. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.common import localities, phones, workdays
from services.common.clock import vn_today

# Tracking codes: the rules live in the contract, shared with notify and agencies.
from services.common.contracts.codes import (  # noqa: F401
    ALPHABET,
    BODY,
    BadCode,
    check_char,
    format_code,
    new_code,
    parse_code,
)
from services.common.contracts.intake import PETITION_STATUS_VI
from services.common.errors import Conflict, Invalid
from services.common.text import fold, nfc


# --- categories ---------------------------------------------------------------------
@dataclass(frozen=True)
class Taxonomy:
    names: Mapping[str, str]  # code -> Vietnamese name
    keywords: Mapping[str, tuple[str, ...]]  # code -> folded keywords
    default: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Taxonomy:
        cats = config["categories"]
        return cls(
            names={code: nfc(c["name"]) for code, c in cats.items()},
            keywords={code: tuple(fold(k) for k in c.get("keywords") or []) for code, c in
                      cats.items()},
            default=config.get("default", "other"),
        )

    def classify(self, title: str, content: str) -> str:
        """The category whose keywords occur most (title counts double); ties and
        no hit fall back to the first in file order / the default."""
        head = f" {' '.join(fold(title).split())} "
        body = f" {' '.join(fold(content).split())} "
        best, score = self.default, 0
        for code, words in self.keywords.items():
            # Longer phrases weigh more: "giấy phép xây dựng" says more than "đường".
            hits = sum((2 * head.count(f" {w} ") + body.count(f" {w} ")) * len(w.split())
                       for w in words)
            if hits > score:
                best, score = code, hits
        return best


# --- status machine ---------------------------------------------------------------
RECEIVED, ACCEPTED, ASSIGNED, ANSWERED, CLOSED = (
    "received", "accepted", "assigned", "answered", "closed")
REJECTED, WITHDRAWN, REOPENED = "rejected", "withdrawn", "reopened"
STATUSES = (RECEIVED, ACCEPTED, ASSIGNED, ANSWERED, CLOSED, REJECTED, WITHDRAWN, REOPENED)
IN_PROGRESS = (RECEIVED, ACCEPTED, ASSIGNED, REOPENED)

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": ((RECEIVED,), ACCEPTED),
    "reject": ((RECEIVED, ACCEPTED), REJECTED),
    "assign": ((RECEIVED, ACCEPTED, ASSIGNED, REOPENED), ASSIGNED),
    "answer": (IN_PROGRESS, ANSWERED),
    "close": ((ANSWERED, ACCEPTED, ASSIGNED), CLOSED),
    "withdraw": (IN_PROGRESS, WITHDRAWN),
    "reopen": ((ANSWERED,), REOPENED),
    "resume": ((ANSWERED, REOPENED), ASSIGNED),  # the commitment was reopened
    "reclassify": (IN_PROGRESS, ""),  # "" keeps the status
}

# The shared vocabulary (notify words statuses the same way).
STATUS_VI = {status: PETITION_STATUS_VI[status] for status in STATUSES}


def transition(status: str, action: str) -> tuple[tuple[str, ...], str]:
    """(allowed starting statuses, next status) for ``action`` from ``status``; Conflict
    if not allowed. The starting statuses go into the update's filter, so a race
    changes nothing."""
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise Conflict(f"cannot {action} a petition that is {status}",
                       detail_vi=f"Không thể thực hiện thao tác khi đơn ở trạng thái "
                                 f"“{STATUS_VI.get(status, status)}”.")
    return allowed, target or status


def allows(status: str, action: str) -> bool:
    return status in TRANSITIONS[action][0]


def target(action: str) -> str:
    """The status ``action`` leads to ("" for one that keeps it)."""
    return TRANSITIONS[action][1]


def guard(doc: Mapping[str, Any], action: str, cause: str | None = None) -> dict[str, Any]:
    """The filter of ``action``'s update on ``doc``: the statuses it may start from (a
    race changes nothing) and, for a consumed event, that it was not applied yet."""
    allowed, _ = transition(doc["status"], action)
    query: dict[str, Any] = {"_id": doc["_id"], "status": {"$in": list(allowed)}}
    if cause is not None:
        query["events_seen"] = {"$ne": cause}
    return query


def step(status: str, action: str, now: datetime, *, note: str | None = None,
         set_: Mapping[str, Any] | None = None, cause: str | None = None) -> dict[str, Any]:
    """The update that moves a petition in ``status`` through ``action``: the new status,
    a history line when the status changes or a note is given, and the consumed
    event's id (``cause``) so a replay finds it applied."""
    _, target = transition(status, action)
    update: dict[str, Any] = {"$set": {"status": target, "updated_at": now, **(set_ or {})}}
    push: dict[str, Any] = {}
    if target != status or note:
        push["history"] = {"status": target, "at": now, "note": note}
    if cause is not None:
        push["events_seen"] = cause
    if push:
        update["$push"] = push
    return update


def check_reopen(answered_at: datetime | None, now: datetime, window_days: int) -> None:
    if answered_at is None or now - answered_at > timedelta(days=window_days):
        raise Conflict(f"an answer can be reopened only within {window_days} days",
                       detail_vi=f"Chỉ có thể yêu cầu xem xét lại trong vòng {window_days} "
                                 f"ngày kể từ khi có trả lời.")


# --- due dates ----------------------------------------------------------------------
def due_date(start: datetime, days: int, working: bool, province: str | None = None) -> date:
    """Statutory deadline counted from the Vietnamese calendar day of ``start``; a
    calendar-day period ending on a day off ends on the next working day (Bộ luật Dân
    sự 2015, Điều 148 khoản 5)."""
    return workdays.add_days(vn_today(start), days, working=working, province=province,
                             carry_over=True)


# --- heat ---------------------------------------------------------------------------
def heat(recent: int, distinct: int, last_week: int, week_before: int) -> float:
    """Heat of an issue.

    ``recent`` petitions in the heat window (30 days) + ``distinct`` petitioners
    (many people count more than one person writing often: each distinct one adds
    another point) + 2 × growth, growth being how many more petitions came in the
    last 7 days than in the 7 before (never negative).
    """
    return float(recent + distinct + 2 * max(0, last_week - week_before))


def heat_of_days(daily: dict[str, int], distinct: int, now: datetime,
                 window_days: int) -> float:
    """Heat from an issue's petitions per day (``day_key`` -> count): the window and
    the two weeks count whole days, today being day 0."""
    today = now.astimezone(UTC).date()
    recent = week = before = 0
    for key, n in daily.items():
        age = (today - date.fromisoformat(key)).days
        if 0 <= age < window_days:
            recent += n
        if 0 <= age < 7:
            week += n
        elif 7 <= age < 14:
            before += n
    return heat(recent, distinct, week, before)


def stale_days(daily: dict[str, int], now: datetime, window_days: int) -> list[str]:
    """Counters no heat computation will read again."""
    today = now.astimezone(UTC).date()
    keep = max(window_days, 14)
    return [k for k in daily if (today - date.fromisoformat(k)).days >= keep]


# --- submissions ----------------------------------------------------------------------
ATTACHMENT_TYPES = {
    "application/pdf": 20, "image/jpeg": 10, "image/png": 10, "image/heic": 10,
    "image/webp": 10, "audio/mpeg": 20, "audio/mp4": 20, "video/mp4": 50,
    "application/msword": 10,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 10,
}  # MIME type -> largest size in MB
MAX_ATTACHMENTS = 10


def check_submission(data: dict[str, Any]) -> dict[str, Any]:
    """Normalise and check a submission already shaped by the schema (HTTP or event).

    Returns the data with NFC text, a checked locality and an E.164 phone; raises
    Invalid naming the first bad field.
    """
    out = dict(data)
    for name in ("title", "content", "category"):
        if out.get(name):
            out[name] = nfc(out[name])
    if not out.get("title"):
        raise Invalid("title", "title is empty", detail_vi="Vui lòng nhập tiêu đề.")
    if not out.get("content"):
        raise Invalid("content", "content is empty", detail_vi="Vui lòng nhập nội dung.")
    loc = out.get("locality") or {}
    province, ward = loc.get("province_code"), loc.get("ward_code")
    try:
        localities.validate(province, ward)
    except localities.UnknownLocality as exc:
        field = "locality.ward_code" if ward and "commune" in str(exc) else \
            "locality.province_code"
        raise Invalid(field, str(exc), detail_vi="Địa bàn (tỉnh, xã/phường) không hợp lệ.") \
            from None
    person = dict(out.get("petitioner") or {})
    for name in ("full_name", "address"):
        if person.get(name):
            person[name] = nfc(person[name])
    if person.get("phone"):
        try:
            person["phone"] = phones.normalize(person["phone"])
        except phones.InvalidPhone as exc:
            raise Invalid("petitioner.phone", str(exc),
                          detail_vi="Số điện thoại không hợp lệ (số Việt Nam, "
                                    "ví dụ 0912 345 678).") from None
    if person.get("email"):
        person["email"] = person["email"].strip().lower()
    if person.get("consent_notifications") and not (person.get("phone") or person.get("email")):
        raise Invalid("petitioner.phone", "a phone or an email is needed to be notified",
                      detail_vi="Để nhận thông báo, vui lòng nhập số điện thoại hoặc email.")
    out["petitioner"] = person
    attachments = out.get("attachments") or []
    if len(attachments) > MAX_ATTACHMENTS:
        raise Invalid("attachments", f"at most {MAX_ATTACHMENTS} attachments",
                      detail_vi=f"Tối đa {MAX_ATTACHMENTS} tệp đính kèm.")
    for i, item in enumerate(attachments):
        limit = ATTACHMENT_TYPES.get(item["content_type"].lower())
        if limit is None:
            raise Invalid(f"attachments.{i}.content_type",
                          f"type {item['content_type']} is not accepted",
                          detail_vi="Loại tệp không được chấp nhận (chỉ PDF, ảnh, "
                                    "âm thanh, video, Word).")
        if not 0 < item["size"] <= limit * 1024 * 1024:
            raise Invalid(f"attachments.{i}.size", f"size must be 1 byte to {limit} MB",
                          detail_vi=f"Tệp đính kèm phải nhỏ hơn {limit} MB.")
    return out

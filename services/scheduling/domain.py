"""The dialogue aggregate: its states, its rules and the change each command makes. No I/O.

Each command (``announce``, ``reschedule``, ``cancel``, ``hold``, agenda edits; the
conclusion is in ``notices``) checks the rules against the stored document and returns
a ``Change``: the fields to set, the entries to push and the events to publish, which
the service layer applies in one conditional ``update_one`` on (state, version) with
the events staged in the same document (the outbox).

Legal figures: the notice is published at least 7 days ahead (ad hoc dialogues may be
sooner, with a reason); results are published within 10 days; a commune owes a
dialogue when 10% of its voters ask for one (Luật Tổ chức chính quyền địa phương 2025,
Điều 43).

Forms of dialogue (``form``), which the law counts differently:
- ``conference``: the art. 43 conference of the commune People's Committee with
  the Front, co-chaired by the Front and the People's Council; the only form that
  meets the annual minimum and a dialogue requested by 10 % of voters;
- ``party_head``: a Party head's dialogue with citizens (Quy định 11-QĐi/TW ngày
  18/02/2019), counted for the Party's own duty;
- ``voter_meeting``: a meeting of deputies with voters (tiếp xúc cử tri, Luật Tổ
  chức Quốc hội / Luật Tổ chức chính quyền địa phương), which is not a dialogue;
- ``other``: any other dialogue, not counted. A dialogue created without a form
  gets ``conference`` only if its co-chairs include the Front and the council.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common.clock import aware, vn_today
from services.common.errors import Conflict, Invalid, NotFound
from services.common.text import fold, nfc
from services.common.workdays import calendar_days_between

NOTICE_DAYS = 7
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
           PARTY_HEAD: "Đối thoại của người đứng đầu cấp ủy (Quy định 11-QĐi/TW)",
           VOTER_MEETING: "Tiếp xúc cử tri", OTHER: "Đối thoại khác"}
# Only these count towards the art. 43 duties (annual minimum, 10 % requests).
COUNTED_FORMS = (CONFERENCE,)
NOT_COUNTED_FORMS = (PARTY_HEAD, VOTER_MEETING, OTHER)
BODIES = ("party", "committee", "council", "front", "other")

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


def check_agenda_order(current: list[str], wanted: list[str]) -> None:
    if sorted(current) != sorted(wanted) or len(set(wanted)) != len(wanted):
        raise Invalid("item_ids", "must list every agenda item exactly once",
                      detail_vi="Danh sách phải gồm đủ mọi mục, mỗi mục một lần.")


def request_threshold(voters: int) -> int:
    """Requesters needed: 10% of the commune's voters, rounded up."""
    return max(1, math.ceil(voters * REQUEST_SHARE_PERCENT / 100))


# --- the aggregate's commands ----------------------------------------------------


@dataclass
class Change:
    """What one command does to a dialogue: fields to ``$set``, entries to ``$push``,
    the events it publishes as (type, data) and the details the audit trail keeps."""

    set: dict[str, Any] = field(default_factory=dict)
    push: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def update(self, now: datetime) -> dict[str, Any]:
        """The Mongo update: every change bumps the version the next one is checked on."""
        update: dict[str, Any] = {"$set": {**self.set, "updated_at": now},
                                  "$inc": {"version": 1}}
        if self.push:
            update["$push"] = self.push
        return update


def person(data: dict[str, Any]) -> dict[str, Any]:
    return {"name": nfc(data["name"]), "title": nfc(data["title"])}


def new_dialogue(dialogue_id: str, data: dict[str, Any], locality: dict[str, Any],
                 now: datetime, by: str) -> dict[str, Any]:
    """A draft dialogue from a checked request (``locality`` already validated)."""
    check_level(data["level"], locality["ward_code"])
    check_times(data["starts_at"], data["ends_at"])
    check_place(data["format"], data.get("venue"), data.get("online_url"))
    co_chairs = [{**person(c), "body": body_of(c)} for c in data.get("co_chairs", [])]
    form = data.get("form") or infer_form(data["level"], data["host"], co_chairs)
    check_form(form, data["level"], co_chairs)
    host = person(data["host"])
    venue = nfc(data["venue"]) if data.get("venue") else None
    return {
        "_id": dialogue_id, "state": DRAFT, "version": 1,
        "kind": data["kind"], "form": form, "level": data["level"], "locality": locality,
        "unit_code": locality["ward_code"] or locality["province_code"],
        "host": host, "host_key": host_key(host), "co_chairs": co_chairs,
        "lead_agency_id": data["lead_agency_id"],
        "coordinating_agency_ids": list(dict.fromkeys(data.get("coordinating_agency_ids",
                                                               []))),
        "format": data["format"], "venue": venue, "venue_key": venue_key(venue, locality),
        "online_url": data.get("online_url"),
        "starts_at": aware(data["starts_at"]), "ends_at": aware(data["ends_at"]),
        "topic": nfc(data["topic"]), "agenda": [],
        "created_at": now, "created_by": by, "updated_at": now,
    }


def facts(doc: dict[str, Any]) -> dict[str, Any]:
    """What every announcement, reschedule and cancellation tells its invitees."""
    agenda = [{"item_id": i["item_id"], "title": i["title"], "issue_id": i.get("issue_id"),
               "petition_ids": i.get("petition_ids", [])} for i in doc["agenda"]]
    return {
        "dialogue_id": doc["_id"], "kind": doc["kind"], "level": doc["level"],
        "locality": doc["locality"], "host": doc["host"],
        "lead_agency_id": doc["lead_agency_id"],
        "coordinating_agency_ids": doc["coordinating_agency_ids"],
        "format": doc["format"], "venue": doc.get("venue"),
        "online_url": doc.get("online_url"), "starts_at": doc["starts_at"],
        "ends_at": doc["ends_at"], "topic": doc["topic"], "agenda": agenda,
        "petition_ids": list(dict.fromkeys(p for i in agenda for p in i["petition_ids"])),
    }


def announce(doc: dict[str, Any], now: datetime, reason: str | None) -> Change:
    check_transition("announce", doc["state"])
    check_notice(doc["kind"], doc["starts_at"], now, reason)
    return Change(set={"state": ANNOUNCED, "announced_at": now, "notice_reason": reason},
                  events=[("dialogue.announced",
                           {**facts(doc), "announced_at": now, "reason": reason})],
                  details={"reason": reason})


def moved(doc: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The dialogue at its new time and place (what the clash check looks at)."""
    venue = nfc(data["venue"]) if data.get("venue") else doc.get("venue")
    return {**doc, "starts_at": aware(data["starts_at"]), "ends_at": aware(data["ends_at"]),
            "venue": venue, "venue_key": venue_key(venue, doc["locality"]),
            "online_url": data.get("online_url") or doc.get("online_url")}


def reschedule(doc: dict[str, Any], data: dict[str, Any], now: datetime, by: str) -> Change:
    check_transition("reschedule", doc["state"])
    new = moved(doc, data)
    check_times(new["starts_at"], new["ends_at"])
    check_place(doc["format"], new["venue"], new["online_url"])
    reason = data.get("reason")
    check_notice(doc["kind"], new["starts_at"], now, reason)
    return Change(
        set={"starts_at": new["starts_at"], "ends_at": new["ends_at"], "venue": new["venue"],
             "venue_key": new["venue_key"], "online_url": new["online_url"],
             "announced_at": now, "notice_reason": reason},
        push={"reschedules": {"at": now, "by": by, "previous_starts_at": doc["starts_at"],
                              "previous_venue": doc.get("venue"), "reason": reason}},
        events=[("dialogue.rescheduled", {
            **facts(new), "previous_starts_at": doc["starts_at"],
            "previous_venue": doc.get("venue"), "announced_at": now, "reason": reason})],
        details={"starts_at": new["starts_at"].isoformat(), "venue": new["venue"]})


def cancel(doc: dict[str, Any], reason: str, now: datetime) -> Change:
    check_transition("cancel", doc["state"])
    events = []
    if doc["state"] == ANNOUNCED:  # invitees of a draft were never told
        events.append(("dialogue.cancelled",
                       {**facts(doc), "reason": reason, "cancelled_at": now}))
    return Change(set={"state": CANCELLED, "cancelled_at": now, "cancel_reason": reason},
                  events=events, details={"reason": reason})


def hold(doc: dict[str, Any], data: dict[str, Any], now: datetime) -> Change:
    """Held from the start time on; ``held_at`` is the scheduled start. The event names
    the issues on the agenda, which then leave the agenda candidates."""
    check_transition("hold", doc["state"])
    check_hold(doc["starts_at"], now)
    attendance = data["attendance"]
    groups = sum(attendance.get(k, 0) for k in ("citizens", "front", "organisations",
                                                 "agencies"))
    if groups > attendance["total"]:
        raise Invalid("attendance.total", "is less than the sum of the groups",
                      detail_vi="Tổng số người dự nhỏ hơn tổng các thành phần.")
    items = {i["item_id"]: i for i in doc["agenda"]}
    discussed = data.get("discussed_item_ids")
    if discussed is None:
        discussed = list(items)
    unknown = [i for i in discussed if i not in items]
    if unknown:
        raise Invalid("discussed_item_ids", f"not on the agenda: {', '.join(unknown)}",
                      detail_vi="Có mục không thuộc chương trình đối thoại.")
    petitions = data.get("discussed_petition_ids")
    if petitions is None:
        petitions = [p for i in discussed for p in items[i].get("petition_ids", [])]
    petitions = list(dict.fromkeys(petitions))
    issue_ids = list(dict.fromkeys(i["issue_id"] for i in doc["agenda"] if i.get("issue_id")))
    held_at = doc["starts_at"]
    return Change(
        set={"state": HELD, "held_at": held_at, "held_year": vn_today(held_at).year,
             "recorded_at": now, "attendance": attendance, "minutes": data.get("minutes"),
             "discussed_item_ids": discussed, "discussed_petition_ids": petitions},
        events=[("dialogue.held", {
            "dialogue_id": doc["_id"], "locality": doc["locality"], "held_at": held_at,
            "attendance": attendance, "discussed_item_ids": discussed,
            "discussed_petition_ids": petitions, "issue_ids": issue_ids})],
        details={"attendance": attendance})


def add_item(doc: dict[str, Any], item_id: str, data: dict[str, Any]) -> Change:
    check_editable(doc["state"])
    item = {"item_id": item_id, "title": nfc(data["title"]), "issue_id": data.get("issue_id"),
            "petition_ids": list(dict.fromkeys(data.get("petition_ids", []))),
            "minutes_allotted": data.get("minutes_allotted")}
    return Change(push={"agenda": item},
                  details={"item_id": item_id, "title": item["title"]})


def remove_item(doc: dict[str, Any], item_id: str) -> Change:
    check_editable(doc["state"])
    if item_id not in {i["item_id"] for i in doc["agenda"]}:
        raise NotFound(f"no agenda item {item_id}", detail_vi="Không tìm thấy mục này.")
    # The whole agenda under the version filter rather than $pull: FerretDB 1.24
    # matches a $pull condition on whole sub-documents only.
    return Change(set={"agenda": [i for i in doc["agenda"] if i["item_id"] != item_id]},
                  details={"item_id": item_id})


def reorder(doc: dict[str, Any], item_ids: list[str]) -> Change:
    check_editable(doc["state"])
    check_agenda_order([i["item_id"] for i in doc["agenda"]], item_ids)
    by_id = {i["item_id"]: i for i in doc["agenda"]}
    return Change(set={"agenda": [by_id[i] for i in item_ids]}, details={"item_ids": item_ids})

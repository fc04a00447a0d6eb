"""What each document says, built from the data scheduling already holds. No I/O.

- Conclusion notice (*thông báo kết luận*) of a concluded dialogue: who held it,
  when and where, then each conclusion with its responsible and coordinating
  agencies and its deadline (a date, or N working days from the notice date).
- Minutes (*biên bản*) of a held or concluded dialogue: time, venue, host,
  attendance, each question raised (the agenda items, with the issues and
  petitions they came from) and the answers recorded for it: the conclusions
  that answer its petitions, and the minutes text as recorded.
- Annual programme (*chương trình*) of a published programme: its dialogues by
  quarter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from services.common.clock import VN_TZ, vn_today
from services.common.errors import Conflict
from services.common.text import nfc
from services.common.workdays import add_working_days
from services.scheduling.documents import format as f

Names = Callable[[str], str]

STATE_VI = {"draft": "bản nháp", "announced": "đã thông báo, chưa tổ chức",
            "held": "đã tổ chức nhưng chưa ban hành thông báo kết luận",
            "concluded": "đã có thông báo kết luận", "cancelled": "đã bị hủy"}


def _local(moment: datetime) -> datetime:
    return moment.astimezone(VN_TZ)


def _clock(moment: datetime) -> str:
    local = _local(moment)
    return f"{local.hour:02d} giờ {local.minute:02d} phút"


def _join(names: list[str]) -> str:
    return "; ".join(names)


def _lines(text: str | None) -> list[str]:
    return [nfc(line).strip() for line in (text or "").splitlines() if line.strip()]


def _need(doc: dict[str, Any], states: tuple[str, ...], what: str) -> None:
    if doc["state"] in states:
        return
    state = doc["state"]
    why = STATE_VI.get(state, state)
    raise Conflict(f"no {what} for a dialogue that is {state}",
                   detail_vi=f"Không có {what_vi(what)} vì cuộc đối thoại {why}.", state=state)


def what_vi(what: str) -> str:
    return {"conclusion notice": "thông báo kết luận", "minutes": "biên bản"}.get(what, what)


def deadline_text(conclusion: dict[str, Any], issued: date) -> str:
    if conclusion.get("deadline"):
        day = conclusion["deadline"]
        day = date.fromisoformat(day) if isinstance(day, str) else day
        return f"hoàn thành trước {f.date_words(day)}"
    days = conclusion["working_days"]
    end = add_working_days(issued, days)
    return (f"trong {days} ngày làm việc kể từ ngày ban hành Thông báo này "
            f"(đến {f.date_words(end)})")


def _host_phrase(doc: dict[str, Any], where: f.Place) -> str:
    host = doc["host"]
    return f"đồng chí {f.squash(host['name'])}, {f.full_title(host['title'], where)}"


def _summary(kind: str, doc: dict[str, Any], where: f.Place) -> list[str]:
    title = f.full_title(doc["host"]["title"], where)
    return [f"{kind} {title}", f"tại buổi đối thoại với Nhân dân về {f.squash(doc['topic'])}"]


def _venue(doc: dict[str, Any]) -> str:
    venue = f.squash(doc["venue"]) if doc.get("venue") else None
    if doc.get("format") == "online" or not venue:
        return f"trực tuyến tại {doc.get('online_url')}"
    if doc.get("format") == "hybrid" and doc.get("online_url"):
        return f"{venue} (kết hợp trực tuyến tại {doc['online_url']})"
    return venue


def _head(doc: dict[str, Any], locality: dict[str, Any], party: bool, number: str | None,
          kind: str, day: date | None) -> tuple[dict[str, Any], f.Form, f.Place]:
    form = f.form(locality, party)
    where = f.place(locality)
    return ({"party": form.party, "superior": form.superior, "body_lines": form.body_lines,
             "number_line": form.number_line(number, kind), "date_line": form.date_line(day),
             "issuer": form.body},
            form, where)


def _agencies(doc: dict[str, Any], names: Names) -> tuple[str, list[str]]:
    lead = names(doc["lead_agency_id"])
    coordinating = [names(a) for a in doc.get("coordinating_agency_ids", [])]
    return lead, coordinating


def _attendance(att: dict[str, Any] | None) -> str:
    if not att:
        return ""
    parts = []
    for key, label in (("citizens", "người dân"), ("front", "đại diện Mặt trận Tổ quốc"),
                       ("organisations", "đại diện các tổ chức chính trị - xã hội"),
                       ("agencies", "đại diện các cơ quan, đơn vị")):
        if att.get(key):
            parts.append(f"{att[key]} {label}")
    total = f"{att.get('total', 0)} người"
    return f"{total}, trong đó có {', '.join(parts)}" if parts else total


def notice(doc: dict[str, Any], names: Names) -> dict[str, Any]:
    """The context of the conclusion notice; Conflict unless the dialogue is concluded."""
    _need(doc, ("concluded",), "conclusion notice")
    party = f.is_party(doc["host"]["title"])
    notice_ = doc["notice"]
    issued = vn_today(notice_["issued_at"])
    context, form, where = _head(doc, doc["locality"], party, notice_["number"], "TB", issued)
    lead, coordinating = _agencies(doc, names)
    held = vn_today(doc["held_at"])
    intro = [
        f"Vào hồi {_clock(doc['starts_at'])}, {f.date_words(held)}, tại {_venue(doc)}, "
        f"{_host_phrase(doc, where)} đã chủ trì buổi đối thoại {f.KINDS_VI[doc['kind']]} "
        f"với Nhân dân về {f.squash(doc['topic'])}."]
    with_whom = []
    if doc.get("co_chairs"):
        with_whom.append("đồng chủ trì: " + _join(
            [f"đồng chí {f.squash(c['name'])}, {f.full_title(c['title'], where)}"
             for c in doc["co_chairs"]]))
    with_whom.append(f"cơ quan chủ trì chuẩn bị: {lead}")
    if coordinating:
        with_whom.append(f"cơ quan phối hợp: {_join(coordinating)}")
    if doc.get("attendance"):
        with_whom.append(f"tổng số người tham dự: {_attendance(doc['attendance'])}")
    intro.append("Tham dự buổi đối thoại có " + "; ".join(with_whom) + ".")
    host_short = f.expand(doc["host"]["title"])
    intro.append(f"Sau khi nghe ý kiến của Nhân dân và ý kiến trả lời của các cơ quan, đơn vị, "
                 f"đồng chí {host_short} kết luận như sau:")
    conclusions = []
    for n, c in enumerate(doc.get("conclusions", []), 1):
        conclusions.append({
            "n": n, "text": f.squash(c["text"]).rstrip("."),
            "responsible": names(c["responsible_agency_id"]),
            "coordinating": _join([names(a) for a in c.get("coordinating_agency_ids", [])]),
            "deadline": deadline_text(c, issued)})
    closing = [f"{form.body} thông báo để các cơ quan, đơn vị, địa phương và Nhân dân biết, "
               f"thực hiện./."]
    agencies = list(dict.fromkeys(
        [lead, *coordinating,
         *(names(c["responsible_agency_id"]) for c in doc.get("conclusions", [])),
         *(names(a) for c in doc.get("conclusions", []) for a in c.get("coordinating_agency_ids",
                                                                        []))]))
    recipients = [f"- {a};" for a in agencies]
    front = f"Ủy ban Mặt trận Tổ quốc Việt Nam {f.lower_first(where.name)}"
    recipients.append(f"- {front};")
    if where.commune:
        recipients.append("- Trưởng các thôn, tổ dân phố (để niêm yết);")
    recipients.append(form.lu())
    return {**context, "doc_type": "THÔNG BÁO",
            "summary": _summary("Kết luận của", doc, where), "intro": intro,
            "conclusions": conclusions, "closing": closing, "recipients": recipients,
            "sign_lines": f.sign_lines(doc["host"]["title"], form, where.commune),
            "signer": f.squash(notice_.get("signed_by") or "")}


def issue_ref(issue_id: str, title: str | None, item_title: str) -> str:
    """'vấn đề mã 3f2a9c1e' (the first 8 characters of its id), with its title if it differs."""
    code = issue_id[:8] if len(issue_id) > 12 else issue_id
    if title and f.squash(title).casefold() != f.squash(item_title).casefold():
        return f"vấn đề «{f.squash(title)}», mã {code}"
    return f"vấn đề mã {code}"


def minutes(doc: dict[str, Any], names: Names,
            issues: dict[str, str] | None = None) -> dict[str, Any]:
    """The context of the minutes; Conflict unless the dialogue was held.

    ``issues`` gives the titles of the agenda's issues (scheduling's read model), so
    that each question is linked to the issue the petitions were grouped into.
    """
    _need(doc, ("held", "concluded"), "minutes")
    party = f.is_party(doc["host"]["title"])
    held = vn_today(doc["held_at"])
    context, form, where = _head(doc, doc["locality"], party, None, "BB", held)
    lead, coordinating = _agencies(doc, names)
    ends = _local(doc["ends_at"])
    time_place = [
        f"Thời gian: từ {_clock(doc['starts_at'])} đến {_clock(doc['ends_at'])}, "
        f"{f.date_words(held)}" + ("" if vn_today(ends) == held
                                   else f" (kết thúc {f.date_words(vn_today(ends))})") + ".",
        f"Địa điểm: {_venue(doc)}.",
        f"Hình thức: đối thoại {f.KINDS_VI[doc['kind']]}."]
    people = [f"Chủ trì: {_host_phrase(doc, where)}."]
    for c in doc.get("co_chairs", []):
        people.append(f"Đồng chủ trì: đồng chí {f.squash(c['name'])}, "
                      f"{f.full_title(c['title'], where)}.")
    people.append(f"Cơ quan chủ trì chuẩn bị: {lead}.")
    if coordinating:
        people.append(f"Cơ quan phối hợp: {_join(coordinating)}.")
    people.append(f"Số người tham dự: {_attendance(doc.get('attendance'))}.")
    discussed = set(doc.get("discussed_item_ids") or [])
    by_petition: dict[str, list[int]] = {}
    for n, c in enumerate(doc.get("conclusions", []), 1):
        for p in c.get("petition_ids", []):
            by_petition.setdefault(p, []).append(n)
    questions = []
    for n, item in enumerate(doc.get("agenda", []), 1):
        source = []
        if item.get("issue_id"):
            source.append(issue_ref(item["issue_id"], (issues or {}).get(item["issue_id"]),
                                    item["title"]))
        if item.get("petition_ids"):
            source.append(f"{len(item['petition_ids'])} kiến nghị của người dân")
        line = f"{n}. {f.squash(item['title'])}"
        if source:
            line += f" ({', '.join(source)})"
        if item["item_id"] not in discussed:
            line += ": không được đưa ra thảo luận tại buổi đối thoại"
        questions.append(line + ".")
        answered = sorted({k for p in item.get("petition_ids", []) for k in by_petition.get(p, [])})
        for k in answered:
            c = doc["conclusions"][k - 1]
            questions.append(f"Trả lời, tiếp thu: {f.squash(c['text']).rstrip('.')} "
                             f"(giao {names(c['responsible_agency_id'])} chủ trì thực hiện).")
    if not questions:
        questions.append("Không có nội dung nào được ghi vào chương trình đối thoại.")
    sections = [{"heading": "I. THỜI GIAN, ĐỊA ĐIỂM", "lines": time_place},
                {"heading": "II. THÀNH PHẦN THAM DỰ", "lines": people},
                {"heading": "III. CÁC Ý KIẾN, KIẾN NGHỊ ĐƯỢC NÊU VÀ Ý KIẾN TRẢ LỜI",
                 "lines": questions}]
    recorded = _lines(doc.get("minutes"))
    if recorded:
        sections.append({"heading": "IV. DIỄN BIẾN BUỔI ĐỐI THOẠI", "lines": recorded})
    if doc.get("notice"):
        sections.append({"heading": f"{'V' if recorded else 'IV'}. KẾT LUẬN", "lines": [
            f"Kết luận của người chủ trì được ban hành tại Thông báo số "
            f"{form.number(doc['notice']['number'])}"
            f" {f.date_words(vn_today(doc['notice']['issued_at']))}."]})
    closing = [f"Buổi đối thoại kết thúc vào hồi {_clock(doc['ends_at'])} cùng ngày. Biên bản "
               "đã được đọc lại cho những người tham dự cùng nghe và thống nhất./."]
    return {**context, "doc_type": "BIÊN BẢN",
            "summary": [f"Buổi đối thoại giữa {f.full_title(doc['host']['title'], where)} "
                        "với Nhân dân", f"về {f.squash(doc['topic'])}"],
            "sections": sections, "closing": closing,
            "signer": f.squash(doc["host"]["name"])}


def programme(doc: dict[str, Any]) -> dict[str, Any]:
    """The context of an annual programme; Conflict unless it is published."""
    if doc["state"] != "published":
        raise Conflict("the programme is not published",
                       detail_vi="Chương trình chưa được công bố nên chưa có văn bản.")
    day = vn_today(doc["published_at"])
    context, form, where = _head(doc, doc["locality"], False, None, "CTr", day)
    quarters: dict[int, list[str]] = {}
    for item in doc["items"]:
        quarters.setdefault(f.quarter_of(item["period"]), []).append(item)
    blocks = []
    n = 0
    for q in sorted(quarters):
        lines = []
        for item in sorted(quarters[q], key=lambda i: i["period"]):
            n += 1
            lines.append(f"{n}. {f.period_words(item['period'])}: đối thoại "
                         f"{f.KINDS_VI[item['kind']]} về {f.squash(item['topic'])}.")
        blocks.append({"heading": f"Quý {f.ROMAN[q]}", "lines": lines})
    title = f.squash(doc.get("title") or "")
    summary = ([title] if title else
               ["Đối thoại trực tiếp giữa người đứng đầu cấp ủy, chính quyền",
                f"với Nhân dân năm {doc['year']}"])
    intro = [f"{form.body} ban hành Chương trình đối thoại trực tiếp với Nhân dân năm "
             f"{doc['year']} gồm {n} cuộc đối thoại, cụ thể như sau:"]
    closing = ["Các cơ quan, đơn vị được giao chuẩn bị nội dung chủ động phối hợp với Ủy ban "
               "Mặt trận Tổ quốc Việt Nam cùng cấp tổ chức thực hiện; thời gian, địa điểm cụ thể "
               "của từng cuộc đối thoại được thông báo trước ít nhất 07 ngày./."]
    recipients = [f"- Ủy ban Mặt trận Tổ quốc Việt Nam {f.lower_first(where.name)};",
                  "- Các cơ quan, đơn vị liên quan;", form.lu()]
    if where.commune:
        recipients.insert(1, "- Trưởng các thôn, tổ dân phố (để niêm yết);")
    return {**context, "doc_type": "CHƯƠNG TRÌNH", "summary": summary, "intro": intro,
            "quarters": blocks, "closing": closing, "recipients": recipients,
            "sign_lines": ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"], "signer": ""}

"""The dialogue planner and a dialogue's steps: draft -> announce -> hold -> conclude, and
the documents scheduling writes for it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)

from services.common.auth import EDITORS
from services.common.clock import VN_TZ, vn_today
from services.portal.auth import officer_required, token
from services.portal.backend import ApiError
from services.portal.citizen import STATE_NAMES
from services.portal.officer.base import (
    DIALOGUE_KINDS,
    FORMATS,
    NOTICE_DAYS,
    OUTCOMES,
    blueprint,
    me,
    my_wards,
)
from services.portal.pages import FORM_AGAIN, agencies, backend, field_errors, now, send, when


@blueprint.get("/doi-thoai")
@officer_required()
def dialogues():
    page = backend().get("scheduling", "/api/v1/dialogues", token(),
                     province_code=me().get("province_code"), ward_code=me().get("ward_code"),
                     page_size=100)
    return render_template("officer/dialogues.html", items=page["items"], states=STATE_NAMES,
                           messages=get_flashed_messages())


def _plan_form() -> dict[str, Any]:
    f = request.form if request.method == "POST" else request.args
    user = me()
    start = (now().astimezone(VN_TZ) + timedelta(days=NOTICE_DAYS + 1)).replace(
        hour=8, minute=0, second=0, microsecond=0)
    return {
        "kind": f.get("kind", "thematic"), "format": f.get("format", "in_person"),
        "ward_code": f.get("ward_code") or user.get("ward_code") or "",
        "host_name": f.get("host_name", "").strip(),
        "host_title": f.get("host_title", "Chủ tịch UBND xã").strip(),
        "lead_agency_id": f.get("lead_agency_id", ""), "venue": f.get("venue", "").strip(),
        "starts_at": f.get("starts_at") or start.strftime("%Y-%m-%dT%H:%M"),
        "hours": f.get("hours", "2"), "topic": f.get("topic", "").strip(),
        "issue_ids": f.getlist("issue_ids"),
    }


def _candidates(ward_code: str) -> list[dict[str, Any]]:
    if not ward_code:
        return []
    page = backend().get("scheduling", "/api/v1/agenda-candidates", token(),
                     province_code=me().get("province_code"), ward_code=ward_code,
                     page_size=50)
    return page["items"]


@blueprint.route("/doi-thoai/moi", methods=["GET", "POST"])
@officer_required(*EDITORS)
def plan():
    form = _plan_form()
    errors: dict[str, str] = {}
    candidates = _candidates(form["ward_code"])
    if request.method == "POST" and request.form.get("action") != "refresh":
        try:
            starts = datetime.fromisoformat(form["starts_at"]).replace(tzinfo=VN_TZ)
        except ValueError:
            errors["starts_at"] = "Vui lòng nhập ngày giờ bắt đầu."
            starts = None
        if not form["topic"]:
            errors["topic"] = "Vui lòng nhập chủ đề buổi đối thoại."
        if not form["host_name"]:
            errors["host_name"] = "Vui lòng nhập họ tên người chủ trì."
        if not form["host_title"]:
            errors["host_title"] = "Vui lòng nhập chức vụ người chủ trì."
        if form["lead_agency_id"] not in agencies():
            errors["lead_agency_id"] = "Vui lòng chọn cơ quan chủ trì chuẩn bị."
        if not form["ward_code"]:
            errors["ward_code"] = "Vui lòng chọn xã, phường."
        if form["format"] != "online" and not form["venue"]:
            errors["venue"] = "Vui lòng nhập địa điểm."
        hours = float(form["hours"]) if form["hours"].replace(".", "", 1).isdigit() else 0
        if not 0 < hours <= 12:
            errors["hours"] = "Thời lượng từ 0,5 đến 12 giờ."
        if not errors and starts is not None:
            body = {"kind": form["kind"], "level": "commune",
                    "locality": {"province_code": me().get("province_code"),
                                 "ward_code": form["ward_code"]},
                    "host": {"name": form["host_name"], "title": form["host_title"]},
                    "lead_agency_id": form["lead_agency_id"], "coordinating_agency_ids": [],
                    "format": form["format"], "venue": form["venue"] or None,
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=hours)).isoformat(),
                    "topic": form["topic"]}
            try:
                created = backend().post("scheduling", "/api/v1/dialogues", body, token())
                chosen = {c["issue_id"]: c for c in candidates}
                for issue_id in form["issue_ids"]:
                    if issue_id in chosen:
                        c = chosen[issue_id]
                        backend().post("scheduling",
                                   f"/api/v1/dialogues/{created['id']}/agenda-items",
                                   {"title": c["title"] or "Vấn đề " + issue_id,
                                    "issue_id": issue_id, "petition_ids": c["petition_ids"]},
                                   token())
            except ApiError as exc:
                if exc.status not in (409, 422):
                    raise
                errors = field_errors(exc)
            else:
                flash("Đã tạo dự thảo buổi đối thoại. Kiểm tra rồi thông báo.")
                return redirect(url_for("officer.dialogue", dialogue_id=created["id"]), 303)
    return render_template("officer/plan.html", form=form, errors=errors,
                           candidates=candidates, wards=my_wards(), kinds=DIALOGUE_KINDS,
                           formats=FORMATS, agencies=agencies(),
                           notice_days=NOTICE_DAYS), FORM_AGAIN if errors else 200


def clashes(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Other live dialogues overlapping this one with the same host or at the same venue."""
    page = backend().get("scheduling", "/api/v1/dialogues", token(),
                     province_code=d["locality"]["province_code"], page_size=200)
    start, end = when(d["starts_at"]), when(d["ends_at"])
    found = []
    for other in page["items"]:
        if other["id"] == d["id"] or other["state"] not in ("draft", "announced"):
            continue
        if when(other["starts_at"]) < end and start < when(other["ends_at"]):
            same_host = other["host"]["name"].casefold() == d["host"]["name"].casefold()
            same_venue = bool(d.get("venue")) and (other.get("venue") or "").casefold() \
                == d["venue"].casefold()
            if same_host or same_venue:
                found.append({**other, "why": "cùng người chủ trì" if same_host
                              else "cùng địa điểm"})
    return found


@blueprint.get("/doi-thoai/<dialogue_id>")
@officer_required()
def dialogue(dialogue_id: str, errors: dict[str, str] | None = None, status: int = 200):
    d = backend().get("scheduling", f"/api/v1/dialogues/{dialogue_id}", token())
    starts = when(d["starts_at"])
    notice_ok = starts - now() >= timedelta(days=NOTICE_DAYS)
    rows = max(1, min(int(request.args.get("rows", "2") or 2), 20))
    petition_ids = sorted({p for i in d.get("agenda") or [] for p in i["petition_ids"]})
    labels: dict[str, str] = {}
    if d["state"] == "held":
        # Tracking codes and titles read better than ids in the conclusions editor.
        for issue_id in {i["issue_id"] for i in d.get("agenda") or [] if i.get("issue_id")}:
            found = backend().get("intake", "/api/v1/petitions", token(), issue_id=issue_id,
                              province_code=d["locality"]["province_code"], page_size=100)
            labels.update({p["id"]: f"{p['tracking_code']} — {p['title']}"
                           for p in found["items"]})
    return render_template(
        "officer/dialogue.html", d=d, states=STATE_NAMES, notice_ok=notice_ok,
        notice_days=NOTICE_DAYS, clashes=clashes(d) if d["state"] in ("draft", "announced")
        else [], can_hold=now() >= starts, errors=errors or {}, rows=rows,
        petition_ids=petition_ids, labels=labels, agencies=agencies(),
        outcomes=OUTCOMES, today=vn_today(now()), messages=get_flashed_messages(),
        editor=bool(set(me()["roles"]) & set(EDITORS))), status


# The documents scheduling writes for a concluded dialogue, by the portal's URL name.
DOCUMENTS = {"thong-bao-ket-luan": "notice", "bien-ban": "minutes"}


@blueprint.get("/doi-thoai/<dialogue_id>/van-ban/<name>.<fmt>")
@officer_required()
def document(dialogue_id: str, name: str, fmt: str):
    if name not in DOCUMENTS or fmt not in ("docx", "pdf"):
        abort(404)
    got = backend().download("scheduling",
                         f"/api/v1/dialogues/{dialogue_id}/documents/{DOCUMENTS[name]}.{fmt}",
                         token())
    headers = {k: got.headers[k] for k in ("Content-Type", "Content-Disposition")
               if k in got.headers}
    return Response(got.content, headers=headers)


def _act(dialogue_id: str, action: str, body: dict[str, Any], done: str):
    """A step of the dialogue (announce, hold, conclude), back to its page."""
    return send("scheduling", f"/api/v1/dialogues/{dialogue_id}/{action}", body, token(),
                done=done, then=url_for("officer.dialogue", dialogue_id=dialogue_id),
                again=lambda **shown: dialogue(dialogue_id, **shown))


@blueprint.post("/doi-thoai/<dialogue_id>/thong-bao")
@officer_required(*EDITORS)
def announce(dialogue_id: str):
    reason = request.form.get("reason", "").strip() or None
    return _act(dialogue_id, "announce", {"reason": reason},
                "Đã thông báo buổi đối thoại; người dân và cơ quan liên quan được báo tin.")


def _count(name: str, errors: dict[str, str]) -> int:
    raw = request.form.get(name, "0").strip() or "0"
    if not raw.isdigit():
        errors[name] = "Nhập số nguyên không âm."
        return 0
    return int(raw)


@blueprint.post("/doi-thoai/<dialogue_id>/to-chuc")
@officer_required(*EDITORS)
def hold(dialogue_id: str):
    errors: dict[str, str] = {}
    attendance = {k: _count(k, errors) for k in ("total", "citizens", "front",
                                                 "organisations", "agencies")}
    if not errors and attendance["total"] < sum(v for k, v in attendance.items()
                                                if k != "total"):
        errors["total"] = "Tổng số người dự không được nhỏ hơn tổng các thành phần."
    if errors:
        return dialogue(dialogue_id, errors=errors, status=FORM_AGAIN)
    minutes = request.form.get("minutes", "").strip() or None
    return _act(dialogue_id, "hold", {"attendance": attendance, "minutes": minutes},
                "Đã ghi nhận buổi đối thoại đã tổ chức.")


@blueprint.post("/doi-thoai/<dialogue_id>/ket-luan")
@officer_required(*EDITORS)
def conclude(dialogue_id: str):
    errors: dict[str, str] = {}
    f = request.form
    conclusions = []
    for n in range(20):
        text = f.get(f"c{n}_text", "").strip()
        if not text:
            continue
        item: dict[str, Any] = {"text": text, "responsible_agency_id": f.get(f"c{n}_agency", ""),
                                "petition_ids": f.getlist(f"c{n}_petitions")}
        if item["responsible_agency_id"] not in agencies():
            errors[f"c{n}_agency"] = "Vui lòng chọn cơ quan chịu trách nhiệm."
        deadline, days = f.get(f"c{n}_deadline", "").strip(), f.get(f"c{n}_days", "").strip()
        if deadline and not days:
            try:
                item["deadline"] = date.fromisoformat(deadline).isoformat()
            except ValueError:
                errors[f"c{n}_deadline"] = "Ngày không hợp lệ."
        elif days and not deadline and days.isdigit() and 1 <= int(days) <= 365:
            item["working_days"] = int(days)
        else:
            errors[f"c{n}_deadline"] = "Nhập hạn hoàn thành hoặc số ngày làm việc (một trong hai)."
        conclusions.append(item)
    if not conclusions:
        errors["c0_text"] = "Cần ít nhất một kết luận."
    for name, label in (("notice_number", "số thông báo"), ("signed_by", "người ký")):
        if not f.get(name, "").strip():
            errors[name] = f"Vui lòng nhập {label}."
    if errors:
        return dialogue(dialogue_id, errors=errors, status=FORM_AGAIN)
    body = {"notice_number": f["notice_number"].strip(), "issued_at": now().isoformat(),
            "signed_by": f["signed_by"].strip(), "conclusions": conclusions}
    return _act(dialogue_id, "conclude", body,
                "Đã ban hành thông báo kết luận; các cơ quan được giao nhiệm vụ.")

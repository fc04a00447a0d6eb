"""Officers' console, in the order of the work: hot issues -> dialogue planner -> held ->
conclusions -> the agency's commitments -> the Front's judgement -> leaders' overview.
Every call carries the officer's own token, so each service applies its own role and
locality rules; the portal only chooses what to show."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
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
from services.portal.citizen import STATE_NAMES, commitments_of, tally, wards
from services.portal.pages import (
    FORM_AGAIN,
    agencies,
    backend,
    field_errors,
    now,
    send,
    settings,
    when,
)

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


@blueprint.get("/")
@officer_required()
def home():
    return render_template("officer/home.html", messages=get_flashed_messages())


# --- hot issues ------------------------------------------------------------------------

@blueprint.get("/van-de")
@officer_required("secretariat", "host", "front_officer", "auditor", "admin")
def issues():
    user = me()
    ward_code = request.args.get("ward_code") or user.get("ward_code")
    category = request.args.get("category") or None
    page = backend().get("intake", "/api/v1/issues", token(),
                     province_code=user.get("province_code"), ward_code=ward_code,
                     category=category, page_size=50)
    return render_template("officer/issues.html", items=page["items"], total=page["total"],
                           ward_code=ward_code, category=category, wards=my_wards(),
                           categories=CATEGORIES)


@blueprint.get("/van-de/<issue_id>")
@officer_required("secretariat", "host", "front_officer", "auditor", "admin")
def issue(issue_id: str):
    found = backend().get("intake", f"/api/v1/issues/{issue_id}", token())
    petitions = backend().get("intake", "/api/v1/petitions", token(), issue_id=issue_id,
                          province_code=found["locality"]["province_code"], page_size=100)
    return render_template("officer/issue.html", issue=found, petitions=petitions["items"],
                           categories=CATEGORIES)


# --- dialogue planner ------------------------------------------------------------------

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


# --- commitments (agencies), the Front's judgement --------------------------------------

@blueprint.get("/cam-ket")
@officer_required()
def commitments():
    view = request.args.get("xem", "due")
    user = me()
    filters: dict[str, Any] = {"province_code": None if user.get("agency_id")
                               else user.get("province_code"),
                               "ward_code": user.get("ward_code")}
    today = vn_today(now())
    if view == "overdue":
        filters["overdue"] = "true"
    elif view == "due":
        filters["due_to"] = (today + timedelta(days=30)).isoformat()
    items = [c for c in commitments_of(token(), **filters)
             if view == "all" or c["status"] != "resolved"]
    items.sort(key=lambda c: c["deadline"])
    return render_template("officer/commitments.html", items=items, view=view, today=today,
                           messages=get_flashed_messages())


@blueprint.get("/cam-ket/<commitment_id>")
@officer_required()
def commitment(commitment_id: str, errors: dict[str, str] | None = None, status: int = 200):
    c = backend().get("followup", f"/api/v1/commitments/{commitment_id}", token())
    roles = set(me()["roles"])
    return render_template(
        "officer/commitment.html", c=c, errors=errors or {}, outcomes=OUTCOMES,
        can_report=bool(roles & {"agency_officer", "secretariat", "admin"})
        and c["status"] != "resolved",
        can_assess="front_officer" in roles and c["status"] == "resolved"
        and not c.get("assessment"), messages=get_flashed_messages()), status


def _followup(commitment_id: str, action: str, body: dict[str, Any], done: str):
    """A report on a commitment (progress, resolve, assess), back to its page."""
    return send("followup", f"/api/v1/commitments/{commitment_id}/{action}", body, token(),
                done=done, then=url_for("officer.commitment", commitment_id=commitment_id),
                again=lambda **shown: commitment(commitment_id, **shown))


def _evidence(errors: dict[str, str]) -> list[str]:
    links = [x.strip() for x in request.form.get("evidence", "").splitlines() if x.strip()]
    if any(not x.startswith(("http://", "https://")) for x in links):
        errors["evidence"] = "Mỗi dòng là một đường dẫn bắt đầu bằng http:// hoặc https://."
    return links


@blueprint.post("/cam-ket/<commitment_id>/tien-do")
@officer_required("agency_officer", "secretariat", "admin")
def progress(commitment_id: str):
    errors: dict[str, str] = {}
    note = request.form.get("note", "").strip()
    percent = request.form.get("percent", "").strip()
    if not note:
        errors["note"] = "Vui lòng nhập nội dung tiến độ."
    if not (percent.isdigit() and 0 <= int(percent) <= 100):
        errors["percent"] = "Nhập tỷ lệ hoàn thành từ 0 đến 100."
    evidence = _evidence(errors)
    if errors:
        return commitment(commitment_id, errors=errors, status=FORM_AGAIN)
    return _followup(commitment_id, "progress",
                     {"note": note, "percent": int(percent), "evidence": evidence},
                     "Đã cập nhật tiến độ.")


@blueprint.post("/cam-ket/<commitment_id>/giai-quyet")
@officer_required("agency_officer", "secretariat", "admin")
def resolve(commitment_id: str):
    errors: dict[str, str] = {}
    answer = request.form.get("answer", "").strip()
    outcome = request.form.get("outcome", "")
    if not answer:
        errors["answer"] = "Vui lòng nhập nội dung trả lời gửi người dân."
    if outcome not in OUTCOMES:
        errors["outcome"] = "Vui lòng chọn kết quả."
    evidence = _evidence(errors)
    if errors:
        return commitment(commitment_id, errors=errors, status=FORM_AGAIN)
    if evidence:
        # Evidence goes with a final progress report: resolution itself carries the answer.
        try:
            backend().post("followup", f"/api/v1/commitments/{commitment_id}/progress",
                       {"note": "Hồ sơ, minh chứng kết quả", "percent": 100,
                        "evidence": evidence}, token())
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            return commitment(commitment_id, errors=field_errors(exc), status=FORM_AGAIN)
    return _followup(commitment_id, "resolve", {"answer": answer, "outcome": outcome},
                     "Đã báo cáo kết quả giải quyết; người dân có kiến nghị liên quan được "
                     "thông báo.")


@blueprint.post("/cam-ket/<commitment_id>/danh-gia")
@officer_required("front_officer")
def assess(commitment_id: str):
    errors: dict[str, str] = {}
    assessment = request.form.get("assessment", "")
    note = request.form.get("note", "").strip()
    if assessment not in ("satisfactory", "unsatisfactory"):
        errors["assessment"] = "Vui lòng chọn đạt hoặc chưa đạt."
    if not note:
        errors["note"] = "Vui lòng nêu nhận xét của Mặt trận."
    if errors:
        return commitment(commitment_id, errors=errors, status=FORM_AGAIN)
    done = ("Đã ghi nhận: kết quả đạt yêu cầu." if assessment == "satisfactory"
            else "Đã yêu cầu giải quyết lại; cơ quan được thông báo.")
    return _followup(commitment_id, "assess", {"assessment": assessment, "note": note}, done)


@blueprint.get("/danh-gia")
@officer_required("front_officer")
def judgements():
    user = me()
    items = commitments_of(token(), province_code=user.get("province_code"),
                           ward_code=user.get("ward_code"), status="resolved")
    waiting = [c for c in items if not c.get("assessment")]
    done = [c for c in items if c.get("assessment")]
    return render_template("officer/judgements.html", waiting=waiting, done=done)


# --- leaders' overview -----------------------------------------------------------------

@blueprint.get("/tong-hop")
@officer_required("host", "auditor", "admin", "secretariat", "front_officer")
def overview():
    user = me()
    province = user.get("province_code") or settings().province_code
    year = vn_today(now()).year
    compliance = backend().get("scheduling", "/api/v1/compliance", token(), province_code=province,
                           year=year)
    rows = compliance["items"]
    if user.get("ward_code"):
        rows = [r for r in rows if r["ward_code"] == user["ward_code"]]
    items = commitments_of(token(), province_code=province, ward_code=user.get("ward_code"))
    by_agency = tally(items, lambda c: c["agency_id"])
    overdue = sorted((c for c in items if c.get("overdue") and c["status"] != "resolved"),
                     key=lambda c: c["deadline"])
    held = backend().get("scheduling", "/api/v1/dialogues", token(), province_code=province,
                     ward_code=user.get("ward_code"), page_size=200)["items"]
    months = Counter(when(d["starts_at"]).astimezone(VN_TZ).strftime("%m/%Y")
                     for d in held if d["state"] in ("held", "concluded"))
    per_month = [{"month": m, "count": n} for m, n in
                 sorted(months.items(), key=lambda x: (x[0][3:], x[0][:2]))]
    met = sum(1 for r in rows if r["annual_minimum_met"])
    return render_template("officer/overview.html", compliance=rows, year=year, met=met,
                           by_agency=by_agency, overdue=overdue, per_month=per_month,
                           total=len(items))

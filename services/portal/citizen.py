"""Citizens' pages (no account): submit a petition, track it, upcoming dialogues with
their .ics, a dialogue's accountability page and the province's scoreboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from services.common import localities, phones
from services.common.contracts.codes import BadCode, parse_code
from services.common.contracts.intake import KINDS
from services.common.text import nfc
from services.portal.backend import ApiError
from services.portal.pages import FORM_AGAIN, backend, now, settings, when

blueprint = Blueprint("citizen", __name__)

KIND_NAMES = {"feedback": "Phản ánh, kiến nghị", "complaint": "Khiếu nại",
              "denunciation": "Tố cáo", "voters_petition": "Kiến nghị cử tri"}
STATE_NAMES = {"draft": "Dự thảo", "announced": "Đã thông báo", "held": "Đã tổ chức",
               "concluded": "Đã có kết luận", "cancelled": "Đã hủy"}
# Field names of intake's API -> the form's own field names, to put its errors beside them.
API_FIELDS = {"kind": "kind", "title": "title", "content": "content",
              "locality.province_code": "province_code", "locality.ward_code": "ward_code",
              "petitioner.full_name": "full_name", "petitioner.phone": "phone",
              "petitioner.email": "email", "petitioner.address": "address"}


def client() -> str:
    return request.remote_addr or ""


def provinces() -> list[localities.Unit]:
    from vietnam_provinces import Province

    return sorted((localities.province(f"{int(p.code):02d}") for p in Province.iter_all()),
                  key=lambda u: u.name)


def wards(province_code: str | None) -> list[localities.Unit]:
    try:
        return sorted(localities.wards_of(province_code or ""), key=lambda u: u.name)
    except (ValueError, KeyError):
        return []


@blueprint.get("/")
def home():
    return render_template("citizen/home.html")


# --- submit --------------------------------------------------------------------------

def check_petition(form: dict[str, str]) -> dict[str, str]:
    """Errors in Vietnamese, by field, for what a person can fix before it is sent."""
    errors: dict[str, str] = {}
    if form["kind"] not in KINDS:
        errors["kind"] = "Vui lòng chọn loại đơn."
    if not 5 <= len(form["title"]) <= 200:
        errors["title"] = "Tiêu đề cần từ 5 đến 200 ký tự."
    if not 10 <= len(form["content"]) <= 10_000:
        errors["content"] = "Nội dung cần từ 10 đến 10.000 ký tự; Ông/Bà vui lòng mô tả rõ sự việc."
    try:
        localities.province(form["province_code"])
    except ValueError:
        errors["province_code"] = "Vui lòng chọn tỉnh, thành phố."
    if not form["ward_code"]:
        errors["ward_code"] = "Vui lòng chọn xã, phường, đặc khu nơi xảy ra sự việc."
    elif "province_code" not in errors:
        try:
            localities.validate(form["province_code"], form["ward_code"])
        except ValueError:
            errors["ward_code"] = "Xã, phường đã chọn không thuộc tỉnh, thành phố này."
    if form["full_name"] and len(form["full_name"]) > 200:
        errors["full_name"] = "Họ và tên quá dài (tối đa 200 ký tự)."
    if form["phone"]:
        try:
            phones.normalize(form["phone"])
        except ValueError:
            errors["phone"] = "Số điện thoại không hợp lệ, ví dụ: 0912 345 678."
    if form["email"] and ("@" not in form["email"] or "." not in form["email"].split("@")[-1]):
        errors["email"] = "Địa chỉ thư điện tử không hợp lệ, ví dụ: ten@example.vn."
    if not form["phone"] and not form["email"] and "phone" not in errors:
        errors["phone"] = ("Cần số điện thoại (hoặc thư điện tử) để Ông/Bà tra cứu "
                           "và nhận trả lời.")
    if not form["consent"]:
        errors["consent"] = ("Ông/Bà cần đồng ý để cơ quan nhà nước dùng thông tin liên hệ "
                             "khi xử lý và trả lời kiến nghị.")
    return errors


def _form() -> dict[str, str]:
    get = request.form.get if request.method == "POST" else request.args.get
    keys = ("kind", "title", "content", "province_code", "ward_code", "full_name", "phone",
            "email", "address")
    form = {k: nfc((get(k) or "").strip()) for k in keys}
    form["consent"] = "yes" if get("consent") else ""
    form["province_code"] = form["province_code"] or settings().province_code
    return form


@blueprint.route("/gui-kien-nghi", methods=["GET", "POST"])
def submit():
    form = _form()
    errors: dict[str, str] = {}
    if request.method == "POST" and request.form.get("action") != "refresh":
        errors = check_petition(form)
        if not errors:
            body = {"kind": form["kind"], "title": form["title"], "content": form["content"],
                    "locality": {"province_code": form["province_code"],
                                 "ward_code": form["ward_code"]},
                    "channel": "web",
                    "petitioner": {"full_name": form["full_name"] or None,
                                   "phone": form["phone"] or None,
                                   "email": form["email"] or None,
                                   "address": form["address"] or None,
                                   "consent_notifications": True}}
            try:
                created = backend().post("intake", "/api/v1/petitions", body, client=client())
            except ApiError as exc:
                if exc.status not in (409, 422, 429):
                    raise
                errors = {API_FIELDS.get(k, "form"): v for k, v in exc.fields.items()}
                errors.setdefault("form", exc.detail_vi)
            else:
                session["submitted"] = {"code": created["tracking_code"],
                                        "due": created.get("due_date"),
                                        "phone": bool(form["phone"])}
                return redirect(url_for("citizen.submitted"), code=303)
    status = FORM_AGAIN if errors else 200
    return render_template("citizen/submit.html", form=form, errors=errors, kinds=KIND_NAMES,
                           provinces=provinces(), wards=wards(form["province_code"])), status


@blueprint.get("/gui-kien-nghi/xa")
def ward_options():
    """htmx: the commune list of the chosen province (the form reloads it without JS)."""
    return render_template("citizen/_wards.html", wards=wards(request.args.get("province_code")),
                           selected="")


@blueprint.get("/gui-kien-nghi/da-gui")
def submitted():
    found = session.get("submitted")
    if not found:
        return redirect(url_for("citizen.submit"))
    return render_template("citizen/submitted.html", sent=found)


# --- track ---------------------------------------------------------------------------

def _code(raw: str) -> str:
    """The code in its usual form however it was typed (``7k4m q2xc``); as typed when it
    is not a well-formed code, for intake to say it knows no such petition."""
    try:
        return parse_code(raw)
    except BadCode:
        return raw.strip().upper()


@blueprint.get("/tra-cuu")
def track():
    code = _code(request.args.get("code") or "")
    last4 = (request.args.get("phone_last4") or "").strip()
    errors: dict[str, str] = {}
    view = None
    # The link in an SMS, e-mail or Zalo message carries the code alone (?code=...): the
    # form comes prefilled and asks only for the phone digits. The form itself always
    # sends both fields, so a missing one is named beside it.
    if "phone_last4" in request.args:
        if not code:
            errors["code"] = "Vui lòng nhập mã tra cứu."
        if not (len(last4) == 4 and last4.isdigit()):
            errors["phone_last4"] = "Nhập đúng 4 chữ số cuối của số điện thoại đã đăng ký."
        if not errors:
            try:
                view = backend().get("intake", f"/api/v1/petitions/{code}", client=client(),
                                     phone_last4=last4)
            except ApiError as exc:
                if exc.status == 429:
                    errors["form"] = "Ông/Bà tra cứu quá nhiều lần; vui lòng thử lại sau ít phút."
                elif exc.status in (404, 422):
                    errors["form"] = ("Không tìm thấy kiến nghị với mã và số điện thoại này. "
                                      "Ông/Bà kiểm tra lại mã trong tin nhắn đã nhận.")
                else:
                    raise
    steps = journey(view) if view else []
    return render_template("citizen/track.html", code=code, last4=last4, errors=errors,
                           view=view, steps=steps,
                           prefilled=bool(code) and "phone_last4" not in request.args), \
        FORM_AGAIN if errors else 200


def journey(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The petition's way through the platform, after the citizen proved it is theirs:
    received, grouped into an issue, on a dialogue's agenda, concluded, answered. Intake's
    citizen view gives the petition's id and issue; the dialogue that took it up is read,
    without personal data, with the portal's read-only service account. A failure there
    only shortens the list."""
    history = view.get("history") or []
    petition_id, issue_id = view.get("id"), view.get("issue_id")
    steps: list[dict[str, Any]] = [{"label": "Đã tiếp nhận", "at": view.get("created_at"),
                                    "done": True}]
    found: dict[str, Any] | None = None
    if petition_id or issue_id:
        try:
            found = agenda_of(petition_id, issue_id,
                              (view.get("locality") or {}).get("ward_code"))
        except (ApiError, OSError, KeyError, ValueError):
            pass  # the steps below still say what is known
    steps.append({"label": "Đã tổng hợp cùng các ý kiến tương tự thành một vấn đề",
                  "done": bool(issue_id)})
    steps.append({"label": "Được đưa vào chương trình đối thoại", "done": found is not None,
                  "dialogue": found, "at": found["starts_at"] if found else None})
    concluded = found is not None and found["state"] == "concluded"
    steps.append({"label": "Đã có kết luận, giao cơ quan giải quyết", "done": concluded,
                  "notice": found.get("notice") if concluded else None})
    answered = next((h for h in history if h["status"] == "answered"), None)
    steps.append({"label": "Đã trả lời Ông/Bà", "done": answered is not None,
                  "at": answered["at"] if answered else None})
    return steps


def agenda_of(petition_id: str | None, issue_id: str | None,
              ward_code: str | None) -> dict[str, Any] | None:
    """The public dialogue of the commune whose agenda took up the petition, itself or
    through its issue (a petition grouped after the agenda was set), furthest on first."""
    for d in _public_dialogues(ward_code, ("concluded", "held", "announced")):
        for item in d.get("agenda") or []:
            if (petition_id and petition_id in (item.get("petition_ids") or [])) or \
                    (issue_id and item.get("issue_id") == issue_id):
                return d
    return None


# --- dialogues -----------------------------------------------------------------------

def _public_dialogues(ward_code: str | None, states: tuple[str, ...]) -> list[dict[str, Any]]:
    """Dialogues of the province (or one commune) read with the portal's service account."""
    portal = settings()
    token = backend().service_token()
    found: list[dict[str, Any]] = []
    for state in states:
        page = backend().get("scheduling", "/api/v1/dialogues", token,
                             province_code=portal.province_code, ward_code=ward_code,
                             state=state, page_size=200)
        found += page["items"]
    return found


@blueprint.get("/doi-thoai")
def dialogues():
    portal = settings()
    ward_code = request.args.get("ward_code") or None
    if ward_code and ward_code not in {w.code for w in wards(portal.province_code)}:
        ward_code = None
    today = now()
    items = [d for d in _public_dialogues(ward_code, ("announced",))
             if when(d["ends_at"]) >= today]
    items.sort(key=lambda d: d["starts_at"])
    past = [d for d in _public_dialogues(ward_code, ("held", "concluded"))]
    past.sort(key=lambda d: d["starts_at"], reverse=True)
    return render_template("citizen/dialogues.html", items=items, past=past[:20],
                           ward_code=ward_code, wards=wards(portal.province_code))


def _dialogue(dialogue_id: str) -> dict[str, Any]:
    found = backend().get("scheduling", f"/api/v1/dialogues/{dialogue_id}",
                          backend().service_token())
    if found["state"] == "draft":
        abort(404)  # a draft is not public yet
    return found


@blueprint.get("/doi-thoai/<dialogue_id>")
def dialogue(dialogue_id: str):
    found = _dialogue(dialogue_id)
    account = None
    if found["state"] == "concluded":
        try:
            account = backend().get("followup",
                                    f"/api/v1/public/dialogues/{dialogue_id}/accountability")
        except ApiError as exc:
            if exc.status != 404:
                raise
    return render_template("citizen/dialogue.html", d=found, account=account,
                           states=STATE_NAMES)


def _ics_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 folds lines longer than 75 octets."""
    raw = line.encode()
    parts = []
    width = 75
    while len(raw) > width:
        cut = width
        while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
            cut -= 1
        parts.append(raw[:cut])
        raw = raw[cut:]
        width = 74  # a continuation line starts with a space
    parts.append(raw)
    return "\r\n ".join(p.decode() for p in parts)


def ics(d: dict[str, Any], url: str, stamp: datetime) -> str:
    def utc(value: str) -> str:
        return when(value).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    place = ", ".join(x for x in (d.get("venue"), d.get("online_url")) if x)
    agenda = "; ".join(i["title"] for i in d.get("agenda") or [])
    description = f"{d['topic']}. Nội dung: {agenda}. Chi tiết: {url}" if agenda else \
        f"{d['topic']}. Chi tiết: {url}"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//doithoai//portal//VI",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "BEGIN:VEVENT",
             f"UID:{d['id']}@doithoai", f"DTSTAMP:{stamp.strftime('%Y%m%dT%H%M%SZ')}",
             f"DTSTART:{utc(d['starts_at'])}", f"DTEND:{utc(d['ends_at'])}",
             f"SUMMARY:{_ics_text('Đối thoại: ' + d['topic'])}",
             f"LOCATION:{_ics_text(place)}", f"DESCRIPTION:{_ics_text(description)}",
             f"URL:{url}",
             "STATUS:" + ("CANCELLED" if d["state"] == "cancelled" else "CONFIRMED"),
             "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


@blueprint.get("/doi-thoai/<dialogue_id>.ics")
def dialogue_ics(dialogue_id: str):
    found = _dialogue(dialogue_id)
    url = url_for("citizen.dialogue", dialogue_id=dialogue_id, _external=True)
    return Response(ics(found, url, now().astimezone(UTC)), mimetype="text/calendar",
                    headers={"Content-Disposition":
                             f'attachment; filename="doi-thoai-{dialogue_id}.ics"'})


# --- scoreboard ----------------------------------------------------------------------

def tally(commitments: list[dict[str, Any]], key) -> list[dict[str, Any]]:
    """On time, late, open and overdue per key, with the on-time share of the resolved."""
    rows: dict[str, dict[str, Any]] = {}
    for c in commitments:
        name = key(c)
        if not name:
            continue
        row = rows.setdefault(name, {"key": name, "on_time": 0, "late": 0, "open": 0,
                                     "overdue": 0, "total": 0})
        row["total"] += 1
        resolution = c.get("resolution") or {}
        if c["status"] == "resolved":
            row["on_time" if resolution.get("on_time") else "late"] += 1
        else:
            row["open"] += 1
            row["overdue"] += 1 if c.get("overdue") else 0
    for row in rows.values():
        done = row["on_time"] + row["late"]
        row["rate"] = round(100 * row["on_time"] / done) if done else None
    return sorted(rows.values(), key=lambda r: (-(r["rate"] or -1), r["key"]))


def commitments_of(token: str, **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number in range(1, 26):  # at most 5,000 commitments on one page of the portal
        page = backend().get("followup", "/api/v1/commitments", token, page=number,
                             page_size=200, **filters)
        found += page["items"]
        if len(found) >= page["total"] or not page["items"]:
            break
    return found


@blueprint.get("/bang-xep-hang")
def scoreboard():
    portal = settings()
    items = commitments_of(backend().service_token(), province_code=portal.province_code)
    by_agency = tally(items, lambda c: c["agency_id"])
    by_ward = tally(items, lambda c: (c.get("locality") or {}).get("ward_code"))
    return render_template("citizen/scoreboard.html", by_agency=by_agency, by_ward=by_ward,
                           total=len(items), since=(now() - timedelta(days=365)))

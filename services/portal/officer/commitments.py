"""Commitments: the agencies' list and reports (progress, resolution with its evidence),
and the Front's judgement of resolved ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import get_flashed_messages, render_template, request, url_for

from services.common.clock import vn_today
from services.portal.auth import officer_required, token
from services.portal.backend import ApiError
from services.portal.citizen import commitments_of
from services.portal.officer.base import OUTCOMES, blueprint, me
from services.portal.pages import FORM_AGAIN, backend, field_errors, now, send


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

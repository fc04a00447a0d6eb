"""HTTP API of the intake service. Views are thin: parse, authorise, call the service."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask_smorest import Blueprint

from services.common import auth
from services.common.auth import DECIDERS, OFFICERS, Forbidden, check_filter
from services.common.errors import Invalid, TooManyRequests
from services.common.web import field_errors, problem
from services.intake import confidential, views
from services.intake import schemas as s
from services.intake.service import Intake

petitions = Blueprint("petitions", __name__, url_prefix="/api/v1/petitions",
                      description="Petitions (phản ánh, kiến nghị, khiếu nại, tố cáo)")
issues = Blueprint("issues", __name__, url_prefix="/api/v1/issues",
                   description="Issues: clusters of similar petitions")
BLUEPRINTS = [petitions, issues]

ASSISTING = DECIDING = DECIDERS  # officers who file a petition for a citizen, and decide
OFFICER_CHANNELS = {"in_person", "front", "organisation", "external", "hotline"}

# Names a citizen's form shows, by field path.
FIELD_VI = {
    "kind": "Loại đơn", "title": "Tiêu đề", "content": "Nội dung", "category": "Lĩnh vực",
    "locality": "Địa bàn", "locality.province_code": "Tỉnh/thành phố",
    "locality.ward_code": "Xã/phường", "channel": "Kênh tiếp nhận",
    "petitioner": "Người gửi", "petitioner.full_name": "Họ và tên",
    "petitioner.phone": "Số điện thoại", "petitioner.email": "Email",
    "petitioner.address": "Địa chỉ", "petitioner.consent_notifications": "Đồng ý nhận thông báo",
    "petitioner.preferred_channel": "Nhận thông báo qua",
    "attachments": "Tệp đính kèm", "reason": "Lý do", "phone_last4": "4 số cuối điện thoại",
    "email": "Email", "answer": "Nội dung trả lời", "note": "Ghi chú",
}


def _vi_message(messages: list[Any]) -> str:
    text = " ".join(str(m) for m in messages)
    if "Missing data" in text:
        return "bắt buộc phải nhập"
    if "Unknown field" in text:
        return "trường này không được chấp nhận"
    if "Length" in text or "Longer" in text or "Shorter" in text:
        return "độ dài không phù hợp"
    if "Must be one of" in text:
        return "giá trị không nằm trong danh sách cho phép"
    if "email" in text.lower():
        return "email không hợp lệ"
    return "không hợp lệ"


def _label(path: str) -> str:
    if path in FIELD_VI:
        return FIELD_VI[path]
    head = path.split(".")[0]
    return FIELD_VI.get(head, path)


def validation_problem(error: Any):
    """422 with the fields named, in English and in Vietnamese for citizens' forms."""
    data = getattr(error, "data", None) or {}
    errors = field_errors(data.get("messages") or data.get("errors") or {})
    errors_vi = {path: f"{_label(path)}: {_vi_message(msgs)}" for path, msgs in errors.items()}
    detail_vi = "Vui lòng kiểm tra lại: " + "; ".join(errors_vi[p] for p in sorted(errors_vi)) \
        + "."
    return problem(422, "Unprocessable content", f"invalid fields: {', '.join(sorted(errors))}",
                   detail_vi=detail_vi, errors=errors, errors_vi=errors_vi)


for _bp in BLUEPRINTS:
    _bp.register_error_handler(422, validation_problem)


def service() -> Intake:
    return current_app.extensions["intake"]


def _client() -> str:
    return request.remote_addr or "unknown"


# --- petitions ---------------------------------------------------------------------------
@petitions.route("", methods=["POST"])
@petitions.arguments(s.PetitionIn())  # an instance: a class is instantiated per request
@petitions.response(201, s.PetitionCreated)
def submit(body: dict[str, Any]):
    """Submit a petition: public (rate-limited) or assisted by an officer (token).

    The answer carries the tracking code at once; grouping into an issue follows within
    seconds, off the request path, so the answer has no ``issue_id``: read it from
    ``GET /petitions/{id}`` or from the ``petition.grouped`` event."""
    principal = auth.bearer()
    intake = service()
    if principal is None:
        if body.get("channel") in OFFICER_CHANNELS:
            raise Invalid("channel", "this channel needs an officer's token",
                          detail_vi="Kênh tiếp nhận này chỉ dành cho cán bộ.")
        if not intake.limiter.allow(f"submit|{_client()}"):
            raise TooManyRequests("too many submissions from this address")
    elif not principal.has(*ASSISTING):
        raise Forbidden(f"needs one of the roles: {', '.join(ASSISTING)}")
    elif principal.roles <= set(auth.READ_ONLY):
        raise Forbidden("read-only role")
    return views.created(intake.submit(body, principal=principal, defer=True))


@petitions.route("", methods=["GET"])
@auth.require(*OFFICERS)
@petitions.arguments(s.PetitionListArgs, location="query")
@petitions.response(200, s.PetitionPage)
def list_petitions(args: dict[str, Any]):
    """Petitions in the officer's scope, filtered (a filter outside the scope: 403);
    ``q`` ignores case and diacritics."""
    check_filter(args)
    principal = auth.current()
    found = service().list_petitions(args, principal)
    # a denouncer's identity only for the roles that handle denunciations
    found["items"] = [confidential.redact(i, principal) for i in found["items"]]
    return found


@petitions.route("/<ref>", methods=["GET"])
@petitions.arguments(s.SecondFactor, location="query")
@petitions.response(200, s.CitizenView)
@petitions.alt_response(200, schema=s.PetitionFull, description="with a bearer token")
def get_petition(factor: dict[str, Any], ref: str):
    """A citizen's view (tracking code + ``phone_last4`` or ``email``), or, with an
    officer's token, the petition in full (by id or tracking code)."""
    if request.headers.get("Authorization"):
        principal = auth.bearer()
        if not principal.has(*OFFICERS):
            raise Forbidden("needs an officer role")
        full = confidential.redact(service().officer_view(ref, principal), principal)
        return jsonify(s.PetitionFull().dump(full))
    intake = service()
    if not intake.lookup_limiter.allow(f"lookup|{_client()}"):
        raise TooManyRequests("too many look-ups from this address")
    doc = intake.citizen_doc(ref, factor.get("phone_last4"), factor.get("email"))
    return intake.citizen_view(doc)


@petitions.route("/<ref>/accept", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.NoteIn)
@petitions.response(200, s.PetitionSummary)
def accept(body: dict[str, Any], ref: str):
    """Accept (thụ lý): the statutory clock runs from now."""
    return service().accept(ref, auth.current(), body.get("note"))


@petitions.route("/<ref>/reject", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.RejectIn)
@petitions.response(200, s.PetitionSummary)
def reject(body: dict[str, Any], ref: str):
    """Refuse, with the reason the petitioner is told."""
    return service().reject(ref, auth.current(), body["reason"])


@petitions.route("/<ref>/reclassify", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.ReclassifyIn)
@petitions.response(200, s.PetitionSummary)
def reclassify(body: dict[str, Any], ref: str):
    """Change the category; the petition is regrouped."""
    return service().reclassify(ref, auth.current(), body["category"], body.get("note"))


@petitions.route("/<ref>/answer", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.AnswerIn)
@petitions.response(200, s.PetitionSummary)
def answer(body: dict[str, Any], ref: str):
    """Answer directly (without a dialogue commitment)."""
    return service().answer(ref, auth.current(), body["answer"])


@petitions.route("/<ref>/close", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.NoteIn)
@petitions.response(200, s.PetitionSummary)
def close(body: dict[str, Any], ref: str):
    """Close for good."""
    return service().close(ref, auth.current(), body.get("note"))


@petitions.route("/<code>/withdraw", methods=["POST"])
@petitions.arguments(s.WithdrawIn)
@petitions.response(200, s.CitizenView)
def withdraw(body: dict[str, Any], code: str):
    """The citizen withdraws (tracking code and second factor)."""
    intake = service()
    if not intake.lookup_limiter.allow(f"lookup|{_client()}"):
        raise TooManyRequests("too many requests from this address")
    return intake.withdraw(code, body)


@petitions.route("/<code>/reopen", methods=["POST"])
@petitions.arguments(s.ReopenIn)
@petitions.response(200, s.CitizenView)
def reopen(body: dict[str, Any], code: str):
    """The citizen reopens an answered petition within the reopen window, with a reason."""
    intake = service()
    if not intake.lookup_limiter.allow(f"lookup|{_client()}"):
        raise TooManyRequests("too many requests from this address")
    return intake.reopen(code, body)


# --- issues ---------------------------------------------------------------------------------
@issues.route("", methods=["GET"])
@auth.require(*OFFICERS)
@issues.arguments(s.IssueArgs, location="query")
@issues.response(200, s.IssuePage)
def list_issues(args: dict[str, Any]):
    """Issues in scope, hottest first by default (a filter outside the scope: 403)."""
    check_filter(args)
    return service().list_issues(args, auth.current())


@issues.route("/<issue_id>", methods=["GET"])
@auth.require(*OFFICERS)
@issues.response(200, s.IssueOut)
def get_issue(issue_id: str):
    return service().get_issue(issue_id, auth.current())


@issues.route("/<issue_id>/merge", methods=["POST"])
@auth.require(*DECIDING, write=True)
@issues.arguments(s.MergeIn)
@issues.response(200, s.IssueOut)
def merge(body: dict[str, Any], issue_id: str):
    """Merge issue ``body.issue_id`` into this one."""
    return service().merge(issue_id, body["issue_id"], auth.current())


@issues.route("/<issue_id>/split", methods=["POST"])
@auth.require(*DECIDING, write=True)
@issues.arguments(s.SplitIn)
@issues.response(201, s.IssueOut)
def split(body: dict[str, Any], issue_id: str):
    """Move the given petitions into a new issue."""
    return service().split(issue_id, body["petition_ids"], auth.current())


@petitions.route("/<ref>/kind", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.CorrectKindIn)
@petitions.response(200, s.PetitionDeadline)
def correct_kind(body: dict[str, Any], ref: str):
    """Correct the kind (and a complaint's instance, complexity, area); the deadline follows."""
    return service().correct_kind(ref, auth.current(), body)


@petitions.route("/<ref>/extend", methods=["POST"])
@auth.require(*DECIDING, write=True)
@petitions.arguments(s.ExtendIn)
@petitions.response(200, s.PetitionDeadline)
def extend(body: dict[str, Any], ref: str):
    """Extend a denunciation's deadline by 30 days (at most twice), with a reason."""
    return service().extend(ref, auth.current(), body["reason"])

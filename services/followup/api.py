"""HTTP API: thin views that parse, authorise, call the service layer and serialise."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from services.common.auth import AGENCY_WRITERS, OFFICERS, check_filter, current, require
from services.common.schemas import page
from services.followup import views
from services.followup.schemas import (
    Accountability,
    AssessIn,
    CommitmentDetail,
    CommitmentPage,
    ExtendIn,
    ListQuery,
    ProgressIn,
    ReassignIn,
    ReportOut,
    ReportQuery,
    ResolveIn,
)
from services.followup.service import Followup

blp = Blueprint("commitments", __name__, url_prefix="/api/v1",
                description="Commitments: conclusions of dialogues, tracked to resolution")


def _svc() -> Followup:
    return current_app.extensions["followup"]


@blp.get("/commitments")
@require(*OFFICERS)
@blp.arguments(ListQuery, location="query")
@blp.response(200, CommitmentPage)
def list_commitments(args: dict[str, Any]):
    """Commitments in the caller's scope (an agency officer: their agency's only); a
    filter outside it answers 403."""
    check_filter(args, agency=True)
    svc = _svc()
    query = views.list_query(args, svc.scope(current()))
    docs, total = svc.store.page(query, args["page"], args["page_size"])
    return page([views.summary(d) for d in docs], total, args)


@blp.get("/commitments/<commitment_id>")
@require(*OFFICERS)
@blp.response(200, CommitmentDetail)
def get_commitment(commitment_id: str):
    """One commitment with its progress history."""
    return views.detail(_svc().load(current(), commitment_id))


@blp.post("/commitments/<commitment_id>/progress")
@require(*AGENCY_WRITERS, write=True)
@blp.arguments(ProgressIn)
@blp.response(200, CommitmentDetail)
def report_progress(body: dict[str, Any], commitment_id: str):
    """The agency reports progress: a note, a percentage and evidence links."""
    return views.detail(_svc().report_progress(current(), commitment_id, **body))


@blp.post("/commitments/<commitment_id>/resolve")
@require(*AGENCY_WRITERS, write=True)
@blp.arguments(ResolveIn)
@blp.response(200, CommitmentDetail)
def resolve(body: dict[str, Any], commitment_id: str):
    """The agency resolves the commitment with the answer citizens receive."""
    return views.detail(_svc().resolve(current(), commitment_id, **body))


@blp.post("/commitments/<commitment_id>/reassign")
@require("secretariat", write=True)
@blp.arguments(ReassignIn)
@blp.response(200, CommitmentDetail)
def reassign(body: dict[str, Any], commitment_id: str):
    """The secretariat moves the commitment to another agency."""
    return views.detail(_svc().reassign(current(), commitment_id, **body))


@blp.post("/commitments/<commitment_id>/extend")
@require("host", "secretariat", write=True)
@blp.arguments(ExtendIn)
@blp.response(200, CommitmentDetail)
def extend(body: dict[str, Any], commitment_id: str):
    """The host or the secretariat sets a later deadline, with a reason."""
    return views.detail(_svc().extend(current(), commitment_id, **body))


@blp.post("/commitments/<commitment_id>/assess")
@require("front_officer", write=True)
@blp.arguments(AssessIn)
@blp.response(200, CommitmentDetail)
def assess(body: dict[str, Any], commitment_id: str):
    """The Front judges a resolution; unsatisfactory reopens the commitment."""
    return views.detail(_svc().assess(current(), commitment_id, **body))


@blp.get("/reports/commitments")
@require(*OFFICERS)
@blp.arguments(ReportQuery, location="query")
@blp.response(200, ReportOut)
def report(args: dict[str, Any]):
    """Resolved on time, resolved late, open and overdue, by agency and by dialogue; a
    filter outside the caller's scope answers 403."""
    check_filter(args, agency=True)
    svc = _svc()
    principal = current()
    query = views.list_query({k: v for k, v in args.items() if k not in ("from_", "to")},
                             svc.scope(principal))
    query = views.both(query, views.deadline_range(args.get("from_"), args.get("to")))
    return views.report(svc.store, query)


@blp.get("/public/dialogues/<dialogue_id>/accountability")
@blp.response(200, Accountability)
def accountability(dialogue_id: str):
    """Public: every conclusion of a dialogue, what was promised and what was done."""
    return views.accountability(_svc().store, dialogue_id)

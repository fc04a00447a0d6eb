"""Marshmallow schemas of the follow-up HTTP API (unknown fields are refused)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.contracts.fields import AGENCY, PROVINCE, WARD
from services.common.schemas import (
    AreaArgs,
    LocalityOut,
    in_order,
    page_of,
    required_text,
    text,
)
from services.followup.domain import ASSESSMENTS, OUTCOMES, STATUSES


class ListQuery(AreaArgs):
    agency_id = fields.String(validate=AGENCY)
    dialogue_id = fields.String(validate=validate.Length(1, 200))
    status = fields.String(validate=validate.OneOf(STATUSES))
    overdue = fields.Boolean()
    due_from = fields.Date(metadata={"description": "deadline on or after (YYYY-MM-DD)"})
    due_to = fields.Date(metadata={"description": "deadline on or before (YYYY-MM-DD)"})
    _range = in_order("due_from", "due_to")


class ReportQuery(Schema):
    province_code = fields.String(validate=PROVINCE)
    ward_code = fields.String(validate=WARD)
    agency_id = fields.String(validate=AGENCY)
    from_ = fields.Date(data_key="from", metadata={"description": "deadline on or after"})
    to = fields.Date(metadata={"description": "deadline on or before"})
    _range = in_order("from_", "to", names=("from", "to"))


class ProgressIn(Schema):
    note = required_text(5000)
    percent = fields.Integer(required=True, validate=validate.Range(0, 100))
    evidence = fields.List(fields.Url(), load_default=list, validate=validate.Length(max=50))
    reason = text(2000, metadata={"description": "required when percent decreases"})


class ResolveIn(Schema):
    answer = required_text(10000)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    reason = text(2000, metadata={"description": "required unless outcome is resolved"})


class ReassignIn(Schema):
    agency_id = fields.String(required=True, validate=AGENCY)
    reason = required_text(2000)


class ExtendIn(Schema):
    deadline = fields.Date(required=True)
    reason = required_text(2000)


class AssessIn(Schema):
    assessment = fields.String(required=True, validate=validate.OneOf(ASSESSMENTS))
    note = required_text(5000)


class ResolutionOut(Schema):
    answer = fields.String()
    outcome = fields.String()
    outcome_vi = fields.String()
    reason = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime()
    on_time = fields.Boolean()


class AssessmentOut(Schema):
    assessment = fields.String()
    note = fields.String()
    at = fields.AwareDateTime()


class ProgressOut(Schema):
    at = fields.AwareDateTime()
    percent = fields.Integer()
    note = fields.String()
    evidence = fields.List(fields.String())
    reason = fields.String(allow_none=True)
    by = fields.String()


class HistoryOut(Schema):
    at = fields.AwareDateTime()
    action = fields.String()
    by = fields.String()
    details = fields.Dict()


class CommitmentOut(Schema):
    id = fields.String()
    conclusion_id = fields.String()
    dialogue_id = fields.String()
    notice_number = fields.String(allow_none=True)
    text = fields.String()
    agency_id = fields.String()
    coordinating_agency_ids = fields.List(fields.String())
    deadline = fields.Date()
    deadline_vn = fields.String(metadata={"description": "dd/mm/yyyy"})
    locality = fields.Nested(LocalityOut)
    petition_ids = fields.List(fields.String())
    status = fields.String()
    status_vi = fields.String()
    percent = fields.Integer()
    overdue = fields.Boolean()
    escalation_level = fields.Integer()
    resolution = fields.Nested(ResolutionOut, allow_none=True)
    assessment = fields.Nested(AssessmentOut, allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class CommitmentDetail(CommitmentOut):
    progress = fields.List(fields.Nested(ProgressOut))
    history = fields.List(fields.Nested(HistoryOut))


CommitmentPage = page_of(CommitmentOut, "CommitmentPage")


class Counts(Schema):
    resolved_on_time = fields.Integer()
    resolved_late = fields.Integer()
    open = fields.Integer()
    overdue = fields.Integer()
    total = fields.Integer()


class AgencyCounts(Counts):
    agency_id = fields.String()


class DialogueCounts(Counts):
    dialogue_id = fields.String()


class ReportOut(Schema):
    totals = fields.Nested(Counts)
    by_agency = fields.List(fields.Nested(AgencyCounts))
    by_dialogue = fields.List(fields.Nested(DialogueCounts))


class PublicCommitment(Schema):
    conclusion_id = fields.String()
    text = fields.String()
    agency_id = fields.String()
    deadline = fields.Date()
    deadline_vn = fields.String()
    status = fields.String()
    status_vi = fields.String()
    percent = fields.Integer()
    overdue = fields.Boolean()
    last_progress_at = fields.AwareDateTime(allow_none=True)
    answer = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    outcome_vi = fields.String(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    on_time = fields.Boolean(allow_none=True)


class Accountability(Schema):
    dialogue_id = fields.String()
    notice_number = fields.String(allow_none=True)
    total = fields.Integer()
    resolved = fields.Integer()
    overdue = fields.Integer()
    commitments = fields.List(fields.Nested(PublicCommitment))

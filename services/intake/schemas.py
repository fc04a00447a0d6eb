"""Marshmallow schemas of the intake HTTP API. Unknown fields are refused (RAISE)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common import schemas as kit
from services.common.contracts.intake import CHANNELS, KINDS
from services.common.schemas import LocalityIn, LocalityOut, page_of, required_text, text
from services.intake.domain import STATUSES

_LAST4 = validate.Regexp(r"^\d{4}$", error="the last four digits of the phone number")
ISSUE_STATUSES = ("open", "merged", "closed")


class PetitionerIn(Schema):
    full_name = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(1, 200))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(6, 30))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(3, 254))
    address = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(1, 500))
    consent_notifications = fields.Boolean(load_default=False)
    preferred_channel = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("sms", "zalo", "email")),
        metadata={"description": "how to be told: sms (the default), zalo (SMS when Zalo "
                                 "cannot deliver) or email"})


class AttachmentIn(Schema):
    name = required_text(255)
    content_type = required_text(127, 3)
    size = fields.Integer(required=True, strict=True)
    url = fields.Url(required=True, validate=validate.Length(max=2000))


class PetitionIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = fields.String(required=True, validate=validate.Length(5, 200))
    content = fields.String(required=True, validate=validate.Length(10, 10_000))
    category = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(1, 64))
    locality = fields.Nested(LocalityIn, required=True)
    channel = fields.String(load_default=None, allow_none=True,
                            validate=validate.OneOf(CHANNELS))
    petitioner = fields.Nested(PetitionerIn, load_default=dict)
    attachments = fields.List(fields.Nested(AttachmentIn), load_default=list,
                              validate=validate.Length(max=10))


class PetitionCreated(Schema):
    id = fields.String()
    tracking_code = fields.String()
    status = fields.String()
    category = fields.String()
    due_date = fields.Date(allow_none=True)
    created_at = fields.AwareDateTime()


class HistoryOut(Schema):
    status = fields.String()
    status_vi = fields.String()
    at = fields.AwareDateTime()
    note = fields.String(allow_none=True)


class AnswerOut(Schema):
    text = fields.String()
    at = fields.AwareDateTime()
    commitment_id = fields.String(allow_none=True)


class SecondFactor(Schema):
    phone_last4 = fields.String(load_default=None, validate=_LAST4)
    email = fields.String(load_default=None, validate=validate.Length(3, 254))


class CitizenView(Schema):
    id = fields.String(metadata={"description": "the petition's id"})
    issue_id = fields.String(allow_none=True, metadata={
        "description": "the issue it was grouped into; null until grouped (within "
                       "seconds of submission) and for denunciations"})
    tracking_code = fields.String()
    status = fields.String()
    status_vi = fields.String()
    kind = fields.String()
    title = fields.String()
    category = fields.String()
    category_name = fields.String()
    locality = fields.Nested(LocalityOut)
    due_date = fields.Date(allow_none=True)
    created_at = fields.AwareDateTime()
    history = fields.List(fields.Nested(HistoryOut))
    answer = fields.Nested(AnswerOut, allow_none=True)


class AttachmentOut(Schema):
    name = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    url = fields.String()


class PetitionerOut(Schema):
    full_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    consent_notifications = fields.Boolean()
    confidential = fields.Boolean(metadata={
        "description": "a denouncer's identity, hidden from this role (Luật Tố cáo 2018)"})


class SubmittedBy(Schema):
    sub = fields.String()
    roles = fields.List(fields.String())


class PetitionSummary(Schema):
    id = fields.String()
    tracking_code = fields.String()
    kind = fields.String()
    title = fields.String()
    category = fields.String()
    status = fields.String()
    locality = fields.Nested(LocalityOut)
    channel = fields.String()
    issue_id = fields.String(allow_none=True)
    due_date = fields.Date(allow_none=True)
    created_at = fields.AwareDateTime()
    masked_phone = fields.String(allow_none=True)


class PetitionFull(PetitionSummary):
    content = fields.String()
    petitioner = fields.Nested(PetitionerOut)
    attachments = fields.List(fields.Nested(AttachmentOut))
    history = fields.List(fields.Nested(HistoryOut))
    answer = fields.Nested(AnswerOut, allow_none=True)
    submitted_by = fields.Nested(SubmittedBy, allow_none=True)
    external_ref = fields.String(allow_none=True)
    source_system = fields.String(allow_none=True)
    reject_reason = fields.String(allow_none=True)
    accepted_at = fields.AwareDateTime(allow_none=True)


class Page(kit.Page):
    """The kit's page, counted bucket by bucket (``services/common/paging.py``)."""

    total = fields.Integer(metadata={"description": "matches, when total_exact; otherwise "
                                                    "how many were seen (there are more)"})
    total_exact = fields.Boolean(metadata={"description": "false when a large result was "
                                                          "not counted to its end"})


PetitionPage = page_of(PetitionSummary, "PetitionPage", Page)


class PageArgs(kit.AreaArgs):
    category = fields.String(load_default=None, validate=validate.Length(1, 64))


class PetitionListArgs(PageArgs):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    received_from = fields.AwareDateTime(load_default=None)
    received_to = fields.AwareDateTime(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(1, 200))
    issue_id = fields.String(load_default=None)


class NoteIn(Schema):
    note = text(2000)


class RejectIn(Schema):
    reason = required_text(2000, 3)


class ReclassifyIn(Schema):
    category = required_text(64)
    note = text(2000)


class AnswerIn(Schema):
    answer = fields.String(required=True, validate=validate.Length(3, 10_000))


class WithdrawIn(SecondFactor):
    reason = text(2000)


class ReopenIn(SecondFactor):
    reason = required_text(2000, 3)


class IssueArgs(PageArgs):
    status = fields.String(load_default="open", validate=validate.OneOf(ISSUE_STATUSES))
    sort = fields.String(load_default="-heat",
                         validate=validate.OneOf(("heat", "-heat", "created_at", "-created_at",
                                                  "petition_count", "-petition_count")))
    trending = fields.Boolean(load_default=None)


class IssueOut(Schema):
    id = fields.String()
    title = fields.String()
    category = fields.String()
    locality = fields.Nested(LocalityOut)
    status = fields.String()
    petition_count = fields.Integer()
    distinct_petitioners = fields.Integer()
    heat = fields.Float()
    trending = fields.Boolean()
    version = fields.Integer()
    merged_into = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


IssuePage = page_of(IssueOut, "IssuePage", Page)


class MergeIn(Schema):
    issue_id = fields.String(required=True, validate=validate.Length(1, 64),
                             metadata={"description": "the issue merged into this one"})


class SplitIn(Schema):
    petition_ids = fields.List(fields.String(), required=True,
                               validate=validate.Length(1, 500))


# --- legal footing (issue 19): kind correction and denunciation extensions ---------

class CorrectKindIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    instance = fields.Integer(load_default=None, allow_none=True, validate=validate.OneOf((1, 2)),
                              metadata={"description": "complaint: first (1) or second (2)"})
    complex = fields.Boolean(load_default=None, allow_none=True,
                             metadata={"description": "vụ việc phức tạp"})
    remote = fields.Boolean(load_default=None, allow_none=True,
                            metadata={"description": "vùng sâu, vùng xa đi lại khó khăn"})
    note = text(2000)


class ExtendIn(Schema):
    reason = required_text(2000, 3)


class Extension(Schema):
    at = fields.AwareDateTime()
    reason = fields.String()


class PetitionDeadline(PetitionSummary):
    accept_by = fields.String(allow_none=True, metadata={"format": "date"})
    deadline_source = fields.String(allow_none=True)
    instance = fields.Integer()
    complex = fields.Boolean()
    remote = fields.Boolean()
    extensions = fields.List(fields.Nested(Extension))

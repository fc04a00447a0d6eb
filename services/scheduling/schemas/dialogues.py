"""Dialogues (plan, announce, hold, conclude, agenda) and agenda candidates."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.clock import vn_datetime
from services.common.contracts.fields import AGENCY
from services.common.contracts.scheduling import DIALOGUE_KINDS, FORMATS, LEVELS
from services.common.schemas import AreaArgs, LocalityIn, page_of
from services.scheduling.domain import FORMS
from services.scheduling.schemas.base import TEXT, Locality, Person, PersonIn

STATES = ("draft", "announced", "held", "concluded", "cancelled")
LONG_TEXT = validate.Length(1, 20_000)
ID = validate.Length(1, 100)


def _ids(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=ID), validate=validate.Length(max=1000), **kwargs)


def _agencies(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=AGENCY), validate=validate.Length(max=50), **kwargs)


class DialogueIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(DIALOGUE_KINDS))
    form = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FORMS),
                         metadata={"description": "conference (art. 43, counted; the Front and "
                                   "the council co-chair), party_head (QĐ 11), voter_meeting "
                                   "(not a dialogue), other; read from the co-chairs if absent"})
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    locality = fields.Nested(LocalityIn, required=True)
    host = fields.Nested(PersonIn, required=True)
    co_chairs = fields.List(fields.Nested(PersonIn), load_default=list,
                            validate=validate.Length(max=10))
    lead_agency_id = fields.String(required=True, validate=AGENCY)
    coordinating_agency_ids = _agencies(load_default=list)
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    venue = fields.String(load_default=None, allow_none=True, validate=TEXT)
    online_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"})
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    topic = fields.String(required=True, validate=TEXT)


class DialogueArgs(AreaArgs):
    state = fields.String(validate=validate.OneOf(STATES))
    kind = fields.String(validate=validate.OneOf(DIALOGUE_KINDS))
    form = fields.String(validate=validate.OneOf(FORMS))
    level = fields.String(validate=validate.OneOf(LEVELS))
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class AnnounceIn(Schema):
    reason = fields.String(load_default=None, allow_none=True, validate=TEXT)


class RescheduleIn(Schema):
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    venue = fields.String(load_default=None, allow_none=True, validate=TEXT)
    online_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"})
    reason = fields.String(load_default=None, allow_none=True, validate=TEXT)


class CancelIn(Schema):
    reason = fields.String(required=True, validate=TEXT)


class AttendanceIn(Schema):
    total = fields.Integer(required=True, validate=validate.Range(min=0))
    citizens = fields.Integer(load_default=0, validate=validate.Range(min=0))
    front = fields.Integer(load_default=0, validate=validate.Range(min=0))
    organisations = fields.Integer(load_default=0, validate=validate.Range(min=0))
    agencies = fields.Integer(load_default=0, validate=validate.Range(min=0))


class HoldIn(Schema):
    attendance = fields.Nested(AttendanceIn, required=True)
    minutes = fields.String(load_default=None, allow_none=True, validate=LONG_TEXT)
    discussed_item_ids = _ids(load_default=None, allow_none=True)
    discussed_petition_ids = _ids(load_default=None, allow_none=True)


class ConclusionIn(Schema):
    text = fields.String(required=True, validate=validate.Length(1, 5000))
    responsible_agency_id = fields.String(required=True, validate=AGENCY)
    coordinating_agency_ids = _agencies(load_default=list)
    deadline = fields.Date(load_default=None, allow_none=True)
    working_days = fields.Integer(load_default=None, allow_none=True,
                                  validate=validate.Range(1, 365))
    petition_ids = _ids(load_default=list)

    @validates_schema
    def one_deadline(self, data: dict, **_kwargs) -> None:
        if (data.get("deadline") is None) == (data.get("working_days") is None):
            raise ValidationError("give either deadline or working_days", "deadline")


class ConcludeIn(Schema):
    notice_number = fields.String(required=True, validate=validate.Length(1, 50),
                                  metadata={"example": "15/TB-UBND or 15-TB/ĐU"})
    issued_at = fields.AwareDateTime(required=True)
    issued_reason = fields.String(load_default=None, allow_none=True, validate=TEXT,
                                  metadata={"description": "why issued_at is before the day "
                                                           "the notice is entered"})
    signed_by = fields.String(required=True, validate=validate.Length(1, 200))
    conclusions = fields.List(fields.Nested(ConclusionIn), required=True,
                              validate=validate.Length(1, 200))


class AgendaItemIn(Schema):
    title = fields.String(required=True, validate=TEXT)
    issue_id = fields.String(load_default=None, allow_none=True, validate=ID)
    petition_ids = _ids(load_default=list)
    minutes_allotted = fields.Integer(load_default=None, allow_none=True,
                                      validate=validate.Range(1, 600))


class ReorderIn(Schema):
    item_ids = fields.List(fields.String(validate=ID), required=True)


class SuggestIn(Schema):
    limit = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 50))


class AgendaItem(Schema):
    item_id = fields.String()
    title = fields.String()
    issue_id = fields.String(allow_none=True)
    petition_ids = fields.List(fields.String())
    minutes_allotted = fields.Integer(allow_none=True)


class Attendance(Schema):
    total = fields.Integer()
    citizens = fields.Integer()
    front = fields.Integer()
    organisations = fields.Integer()
    agencies = fields.Integer()


class Conclusion(Schema):
    conclusion_id = fields.String()
    text = fields.String()
    responsible_agency_id = fields.String()
    coordinating_agency_ids = fields.List(fields.String())
    deadline = fields.String(allow_none=True, metadata={"format": "date"})
    working_days = fields.Integer(allow_none=True)
    petition_ids = fields.List(fields.String())


class Notice(Schema):
    number = fields.String()
    issued_at = fields.AwareDateTime()
    signed_by = fields.String()
    format = fields.String(allow_none=True, metadata={"description": "state or party"})
    recorded_at = fields.AwareDateTime(allow_none=True,
                                       metadata={"description": "when the server got it"})
    issued_at_basis = fields.String(allow_none=True, metadata={
        "description": "recorded (proven) or declared (dated before it was entered)"})
    issued_reason = fields.String(allow_none=True)
    late_declared = fields.Boolean(allow_none=True)


class DialogueOut(Schema):
    id = fields.String(attribute="_id")
    state = fields.String()
    kind = fields.String()
    form = fields.String(allow_none=True)
    results_overdue = fields.Boolean(allow_none=True, metadata={
        "description": "held, no conclusion notice after 10 days"})
    level = fields.String()
    locality = fields.Nested(Locality)
    host = fields.Nested(Person)
    co_chairs = fields.List(fields.Nested(Person))
    lead_agency_id = fields.String()
    coordinating_agency_ids = fields.List(fields.String())
    format = fields.String()
    venue = fields.String(allow_none=True)
    online_url = fields.String(allow_none=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    starts_at_display = fields.Function(lambda d: vn_datetime(d["starts_at"]),
                                        metadata={"description": "HH:MM dd/mm/yyyy, Vietnam"})
    topic = fields.String()
    agenda = fields.List(fields.Nested(AgendaItem))
    announced_at = fields.AwareDateTime(allow_none=True)
    notice_reason = fields.String(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    held_at = fields.AwareDateTime(allow_none=True)
    attendance = fields.Nested(Attendance, allow_none=True)
    minutes = fields.String(allow_none=True)
    discussed_item_ids = fields.List(fields.String())
    discussed_petition_ids = fields.List(fields.String())
    notice = fields.Nested(Notice, allow_none=True)
    late = fields.Boolean(allow_none=True)
    conclusions = fields.List(fields.Nested(Conclusion))
    version = fields.Integer()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


DialoguePage = page_of(DialogueOut, "DialoguePage")


class Suggestion(Schema):
    title = fields.String()
    issue_id = fields.String()
    petition_ids = fields.List(fields.String())
    heat = fields.Float()
    trending = fields.Boolean()
    open_petition_count = fields.Integer()


class SuggestionsOut(Schema):
    items = fields.List(fields.Nested(Suggestion))


# --- agenda candidates -------------------------------------------------------

class CandidateArgs(AreaArgs):
    pass


class Candidate(Schema):
    issue_id = fields.String()
    title = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    locality = fields.Nested(Locality)
    heat = fields.Float()
    trending = fields.Boolean()
    petition_count = fields.Integer()
    open_petition_count = fields.Integer()
    distinct_petitioners = fields.Integer()
    petition_ids = fields.List(fields.String())
    issue_version = fields.Integer()


CandidatePage = page_of(Candidate, "CandidatePage")

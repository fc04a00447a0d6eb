"""The year's programme, citizens' requests for a dialogue, compliance and reports."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.contracts.fields import PROVINCE
from services.common.contracts.scheduling import DIALOGUE_KINDS
from services.common.schemas import AreaArgs, LocalityIn, page_of
from services.scheduling.schemas.base import TEXT, Locality

PERIOD = validate.Regexp(r"^\d{4}-(Q[1-4]|0[1-9]|1[0-2])$",
                         error="period: 'YYYY-Qn' or 'YYYY-MM', e.g. 2027-Q2 or 2027-05")


# --- programmes --------------------------------------------------------------

class ProgrammeItemIn(Schema):
    period = fields.String(required=True, validate=PERIOD)
    kind = fields.String(required=True, validate=validate.OneOf(DIALOGUE_KINDS))
    topic = fields.String(required=True, validate=TEXT)


class ProgrammeIn(Schema):
    locality = fields.Nested(LocalityIn, required=True)
    year = fields.Integer(required=True, validate=validate.Range(2000, 2100))
    title = fields.String(load_default=None, allow_none=True, validate=TEXT)
    items = fields.List(fields.Nested(ProgrammeItemIn), required=True,
                        validate=validate.Length(1, 500))


class ProgrammeArgs(AreaArgs):
    year = fields.Integer(validate=validate.Range(2000, 2100))


class ProgrammeItem(Schema):
    period = fields.String()
    kind = fields.String()
    topic = fields.String()


class ProgrammeOut(Schema):
    id = fields.String(attribute="_id")
    locality = fields.Nested(Locality)
    year = fields.Integer()
    title = fields.String(allow_none=True)
    state = fields.String()
    items = fields.List(fields.Nested(ProgrammeItem))
    created_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)


ProgrammePage = page_of(ProgrammeOut, "ProgrammePage")


# --- dialogue requests -------------------------------------------------------

class RequesterIn(Schema):
    full_name = fields.String(required=True, validate=validate.Length(1, 200))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(6, 20))
    id_number = fields.String(load_default=None, allow_none=True,
                              validate=validate.Regexp(r"^\d{9}$|^\d{12}$",
                                                       error="9 or 12 digits"))
    address = fields.String(load_default=None, allow_none=True, validate=TEXT)


class DialogueRequestIn(Schema):
    locality = fields.Nested(LocalityIn, required=True)
    topic = fields.String(required=True, validate=TEXT)
    requester = fields.Nested(RequesterIn, required=True)


class DialogueRequestOut(Schema):
    request_id = fields.String()
    ward_code = fields.String()
    year = fields.Integer()
    counted = fields.Boolean(metadata={"description": "false when this person already asked "
                                                      "this year"})
    requester_count = fields.Integer()
    voter_count = fields.Integer(allow_none=True)
    threshold = fields.Integer(allow_none=True)
    dialogue_required = fields.Boolean()
    confirmation_required = fields.Boolean(metadata={
        "description": "true until the code sent to the phone is confirmed; only "
                       "confirmed requesters count"})
    voter_count_missing = fields.Boolean(metadata={
        "description": "no voter count is recorded for this commune: no threshold"})


class ConfirmIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$",
                                                                 error="6 digits"))


# --- compliance and reports --------------------------------------------------

class ComplianceArgs(Schema):
    province_code = fields.String(required=True, validate=PROVINCE)
    year = fields.Integer(required=True, validate=validate.Range(2000, 2100))


class ComplianceRow(Schema):
    ward_code = fields.String()
    name = fields.String()
    kind = fields.String()
    dialogues_held = fields.Integer()
    annual_minimum_met = fields.Boolean()
    required_outstanding = fields.Integer()
    late_notices = fields.Integer()
    late_notices_url = fields.String(metadata={"description": "the public register of this "
                                                              "unit's late notices"})
    results_overdue = fields.Integer(metadata={"description": "held over 10 days ago, not "
                                                              "concluded"})
    voter_count = fields.Integer(allow_none=True)
    voter_count_source = fields.String(allow_none=True)
    voter_count_as_of = fields.String(allow_none=True)
    voter_count_missing = fields.Boolean()
    party_dialogues_held = fields.Integer(metadata={"description": "QĐ 11 dialogues; not "
                                                                   "counted for art. 43"})


class ComplianceOut(Schema):
    province_code = fields.String()
    year = fields.Integer()
    total = fields.Integer()
    units_below_minimum = fields.Integer()
    voter_counts_missing = fields.Integer(metadata={
        "description": "communes without a voter count: their 10 % cannot be judged"})
    items = fields.List(fields.Nested(ComplianceRow))


class ReportArgs(Schema):
    province_code = fields.String(required=True, validate=PROVINCE)
    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)


class ReportRow(Schema):
    unit_code = fields.String()
    unit_name = fields.String()
    level = fields.String()
    kind = fields.String()
    count = fields.Integer()


class ReportOut(Schema):
    province_code = fields.String()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    total = fields.Integer()
    items = fields.List(fields.Nested(ReportRow))
